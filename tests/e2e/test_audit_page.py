"""The page's audit section in headless Chromium against a real API and TimescaleDB: a mark
entered in the form is stored under the key's name, listed, and revoked from the list; the
coverage check lists what is missing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from playwright.async_api import expect

from tests.conftest import EXAMPLE_REGISTRY
from tests.fixtures.api import running_api
from tests.fixtures.api_data import rows
from tests.fixtures.browser import BrowserPage, browser_page
from wqmon.api.keys import create_key
from wqmon.registry.importer import import_file
from wqmon.settings import Settings


@dataclass
class Stack:
    browser: BrowserPage
    db: str
    key: str


@pytest.fixture
async def stack(db_url: str) -> AsyncIterator[Stack]:
    import_file(db_url, EXAMPLE_REGISTRY)
    key = create_key(db_url, name="op-audit", role="operator")
    settings = Settings(database_url=db_url, batch_linger_s=0.02)
    async with running_api(settings) as base, browser_page(base) as page:
        yield Stack(page, db_url, key)


async def test_mark_revoke_and_coverage_from_the_page(stack: Stack) -> None:
    page = stack.browser.page
    await page.goto("/")
    await page.fill("#key-input", stack.key)
    await page.click("#key-save")
    form = page.locator("#audit-mark-form")
    await expect(form).to_be_visible()
    await form.locator("[name=site]").fill("WWTP-01")
    await form.locator("[name=point]").fill("inlet")
    await form.locator("[name=parameter]").fill("cod")
    await form.locator("[name=start]").fill("2025-06-01T08:00")
    await form.locator("[name=end]").fill("2025-06-01T10:00")
    await form.locator("[name=reason]").select_option("calibration")
    await form.locator("[name=comment]").fill("monthly span check")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#audit-marks tbody tr")).to_have_count(1)
    stored = rows(stack.db, 'SELECT reason, created_by, comment, "end" - start FROM audit_mark')
    assert [r[:3] for r in stored] == [("calibration", "op-audit", "monthly span check")]
    assert stored[0][3].total_seconds() == 7200
    await page.locator("#audit-marks tbody button").click()
    await expect(page.locator("#audit-marks tbody tr.acknowledged")).to_have_count(1)
    assert rows(stack.db, "SELECT revoked_by FROM audit_mark") == [("op-audit",)]
    coverage = page.locator("#audit").locator("form").nth(1)
    await coverage.locator("[name=region]").fill("HZ")
    await coverage.locator("button[type=submit]").click()
    await expect(page.locator("#audit-coverage tbody tr").first).to_be_visible()
    await expect(page.locator("#audit-coverage")).to_contain_text("never reported")
