"""The operator page in headless Chromium against a real API, ingest service and TimescaleDB.

The alarm comes from the real ingest path: readings submitted to the ingest service's pipeline
are committed, its alarm engine raises an alarm, NOTIFY reaches the API's stream, and the page
(already open, never reloaded) shows it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import expect

from tests.conftest import EXAMPLE_REGISTRY
from tests.fixtures.api import running_api
from tests.fixtures.api_data import insert_readings, rows
from tests.fixtures.browser import BrowserPage, browser_page
from wqmon.api.keys import create_key
from wqmon.ingest.envelope import Envelope
from wqmon.model import RawReading, Source
from wqmon.registry.importer import import_file
from wqmon.services.ingest import IngestService
from wqmon.settings import Settings

APPEARS_WITHIN_MS = 2000  # the bar: an alarm shows within 2 s, without a reload


@dataclass
class Stack:
    ingest: IngestService
    browser: BrowserPage
    db: str
    key: str


def _history(db: str) -> None:
    """A day of varying readings up to now, so cards and charts have data and no rule fires."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    times = [now - timedelta(minutes=5 * i) for i in range(288, -1, -1)]
    for point, cod, flow in (("inlet", 320.0, 3800.0), ("outlet", 18.0, 3700.0)):
        analyser = [(t, cod + (i % 5) * 3, "N") for i, t in enumerate(times) if i % 24 == 0]
        insert_readings(db, "WWTP-01", point, "cod", analyser)
        meter = [(t, flow + (i % 7) * 10, "N") for i, t in enumerate(times)]
        insert_readings(db, "WWTP-01", point, "flow", meter)


@pytest.fixture
async def stack(db_url: str) -> AsyncIterator[Stack]:
    import_file(db_url, EXAMPLE_REGISTRY)
    _history(db_url)
    settings = Settings(
        database_url=db_url, batch_linger_s=0.02, hj212_enabled=False, modbus_enabled=False
    )
    key = create_key(db_url, name="duty operator", role="operator")
    ingest = IngestService(settings, [])
    await ingest.start()
    try:
        async with running_api(settings) as base, browser_page(base) as page:
            yield Stack(ingest, page, db_url, key)
    finally:
        await ingest.stop()


async def _sign_in(stack: Stack) -> None:
    page = stack.browser.page
    await page.goto("/")
    await expect(page.locator("#key-dialog")).to_be_visible()
    await page.fill("#key-input", stack.key)
    await page.click("#key-save")
    await expect(page.locator('article[data-site="WWTP-01"]')).to_be_visible()
    await expect(page.locator("#stream-state.live")).to_be_visible()


async def _raise_alarm_through_ingest(stack: Stack) -> None:
    """A COD of 95,000 mg/L is near the plausible bound: the `implausible` rule fires at once."""
    assert stack.ingest.pipeline is not None
    reading = RawReading("WWTP-01", "inlet", "cod", datetime.now(UTC), 95_000.0)
    outcome = await stack.ingest.pipeline.submit(Envelope(Source.TEST, "e2e", [reading]))
    assert outcome.stored == 1


async def test_page_loads_with_cards_charts_and_regions(stack: Stack) -> None:
    await _sign_in(stack)
    page = stack.browser.page
    card = page.locator('article[data-site="WWTP-01"]')
    await expect(card.locator('[data-point="inlet"] [data-conn]')).to_have_attribute(
        "data-conn", "online"
    )
    await expect(card.locator('[data-point="inlet"]')).to_contain_text("mg/L")
    await expect(card.locator(".plot svg path.inlet")).to_have_count(1)
    await expect(card.locator(".plot svg path.outlet")).to_have_count(1)
    await card.get_by_role("button", name="7 天").click()
    await expect(card.locator('.tabs button[aria-pressed="true"]')).to_have_text("7 天")
    await expect(page.locator('#region-table tr[data-region="LYG"]')).to_be_visible()
    # Collection and collection-reduction rate bars, each with the 80 % and 95 % marks.
    hz = page.locator('#region-table tr[data-region="HZ"]')
    await expect(hz.locator(".rate .target.t80")).to_have_count(2)
    await expect(hz.locator(".rate .target.t95")).to_have_count(2)
    await page.click("#lang-toggle")
    await expect(page.locator("h1")).to_have_text("Water quality monitoring")
    await expect(page.locator("#regions th").nth(1)).to_have_text("Collection rate")
    # The key survives a reload (localStorage): no second prompt.
    await page.reload()
    await expect(page.locator('article[data-site="WWTP-01"]')).to_be_visible()
    await expect(page.locator("#key-dialog")).not_to_be_visible()
    assert stack.browser.foreign_requests == []
    assert stack.browser.errors == []


async def test_alarm_from_ingest_appears_live_and_ack_reaches_the_database(stack: Stack) -> None:
    await _sign_in(stack)
    page = stack.browser.page
    row = page.locator("#alarm-list tr", has_text="WWTP-01/inlet/cod")
    await expect(row).to_have_count(0)
    started = time.monotonic()
    await _raise_alarm_through_ingest(stack)
    await expect(row).to_have_count(1, timeout=APPEARS_WITHIN_MS)
    shown_after = time.monotonic() - started
    [(alarm_id, rule)] = rows(
        stack.db, "SELECT id, rule FROM alarm WHERE target = 'WWTP-01/inlet/cod'"
    )
    assert rule == "implausible"
    await expect(row).to_have_attribute("data-alarm-id", str(alarm_id))
    await expect(row.locator(".alarm-state")).to_have_text("未确认")
    await stack.browser.screenshot("operator-page-alarm")

    await row.locator("button.ack").click()
    await page.fill("#ack-comment", "已通知运维核查分析仪")
    await page.click("#ack-confirm")
    await expect(row.locator(".alarm-state")).to_have_text("已确认")
    await expect(row.locator("button.ack")).to_have_count(0)
    acked = rows(
        stack.db, "SELECT state, acked_by, ack_comment FROM alarm WHERE id = %s", (alarm_id,)
    )
    assert acked == [("acknowledged", "duty operator", "已通知运维核查分析仪")]
    await stack.browser.screenshot("operator-page-acknowledged")
    assert shown_after < APPEARS_WITHIN_MS / 1000
    assert stack.browser.foreign_requests == []
    assert stack.browser.errors == []
