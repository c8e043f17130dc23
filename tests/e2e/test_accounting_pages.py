"""The accounting pages in headless Chromium: the county account (frozen and live figures after
a late reading), the city review with its report, and the public page (no key). Screenshots land
in test-artifacts/."""

from __future__ import annotations

from playwright.async_api import expect

from tests.fixtures.api import running_api
from tests.fixtures.browser import browser_page
from tests.integration import accounting_scenario as sc
from wqmon.api.keys import create_key
from wqmon.settings import Settings


async def test_county_account_city_review_and_public_page(db_url: str) -> None:
    sc.load(db_url)
    sc.run_cycle(db_url)
    sc.late_reading(db_url)
    hz = create_key(db_url, name="海州区生态环境局", role="county", regions=["HZ"])
    gy = create_key(db_url, name="赣榆区生态环境局", role="county", regions=["GY"])
    city = create_key(db_url, name="连云港市生态环境局", role="city", regions=["LYG"])
    settings = Settings(database_url=db_url, batch_linger_s=0.02, accounting_min_coverage=0.0)
    async with running_api(settings) as base, browser_page(base) as browser:
        page = browser.page
        await page.goto(f"/accounts?year={sc.YEAR}&region=HZ#key={hz}")
        await expect(page.locator("#changed-notice")).to_be_visible()
        moved = page.locator('tr[data-figure="collected_kg"] td.moved')
        await expect(moved.first).to_be_visible()
        await expect(page.locator("#actions")).to_contain_text("完善管网")
        await browser.screenshot("accounting-county-account")

        await page.goto(f"/accounts?year={sc.YEAR}&region=GY#key={gy}")
        await expect(page.locator("#results-section")).to_contain_text("赣榆污水处理厂二期")
        await expect(page.locator("#results-section")).to_contain_text("新建处理能力")
        await browser.screenshot("accounting-county-results")

        # Another query string than the last page: a change of the hash alone does not reload.
        await page.goto(f"/accounts?region=GY&year={sc.YEAR}#key={city}")
        rows = page.locator("#list tbody tr")
        await expect(rows).to_have_count(3)
        await expect(page.locator("#list")).to_contain_text("已审核通过")
        await expect(page.locator("#report-section")).to_contain_text("v1")
        await expect(page.locator("#report-section")).to_contain_text("赣榆区处理能力缺口")
        await expect(page.locator("#account-section")).to_contain_text("人口应采用2025年统计公报数")
        await browser.screenshot("accounting-city-review")

        await page.goto(f"/public?year={sc.YEAR}")
        await expect(page.locator("#progress tbody tr")).to_have_count(3)
        await expect(page.locator("#lagging")).to_contain_text("赣榆区")
        await browser.screenshot("accounting-public")
        assert browser.foreign_requests == []
        assert browser.errors == []
