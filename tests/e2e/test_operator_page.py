"""The operator page in headless Chromium against a real API, ingest service and TimescaleDB.

The alarm comes from the real ingest path: readings submitted to the ingest service's pipeline
are committed, its alarm engine raises an alarm, NOTIFY reaches the API's stream, and the page
(already open, never reloaded) shows it. Chinese must render with a CJK font (not boxes), the
charts are ECharts' with gaps where data is missing or invalid, and a language switch redraws
every word the operator reads.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from tests.conftest import EXAMPLE_REGISTRY
from tests.fixtures.api import running_api
from tests.fixtures.api_data import insert_readings, rows
from tests.fixtures.browser import BrowserPage, assert_chinese_renders, browser_page
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


GAP_HOURS = (10, 15)  # the inlet analyser sent nothing from 15 h to 10 h ago
FAULT_HOURS_AGO = 4  # and one inlet COD reading flagged D (fault) 4 h ago


def _history(db: str) -> None:
    """A day of varying readings up to now, so cards and charts have data and no rule fires.

    COD every 20 min (the inlet with a 5 h hole and one reading flagged D), flow every 5 min.
    """
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    times = [now - timedelta(minutes=5 * i) for i in range(288, -1, -1)]
    for point, cod, flow in (("inlet", 320.0, 3800.0), ("outlet", 18.0, 3700.0)):
        analyser = []
        for i, t in enumerate(times):
            hours_ago = (now - t) / timedelta(hours=1)
            if i % 4 or (point == "inlet" and GAP_HOURS[0] < hours_ago < GAP_HOURS[1]):
                continue
            fault = point == "inlet" and hours_ago == FAULT_HOURS_AGO
            analyser.append((t, 9_999.0 if fault else cod + (i % 5) * 3, "D" if fault else "N"))
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
    """As an operator given a key: the page says how to get one, the key goes in the dialog."""
    page = stack.browser.page
    await page.goto("/")
    await expect(page.locator("#key-dialog")).to_be_visible()
    await expect(page.locator("#key-dialog")).to_contain_text("wqmon apikey create --role operator")
    await expect(page.locator("#alarms")).to_be_hidden()  # no empty board behind the dialog
    await expect(page.locator("#signed-out")).to_contain_text("登录链接")
    await page.fill("#key-input", stack.key)
    await page.click("#key-save")
    await _wait_for_board(page)


async def _wait_for_board(page: Page) -> None:
    await expect(page.locator('article[data-site="WWTP-01"]')).to_be_visible()
    await expect(page.locator("#stream-state.live")).to_be_visible()
    await expect(page.locator("#signed-out")).to_be_hidden()


CHART_SERIES = """(selector) => {
    const chart = echarts.getInstanceByDom(document.querySelector(selector));
    return chart.getOption().series.map((s) => ({ name: s.name, data: s.data }));
}"""


def _gaps(data: list[list[float | None]]) -> list[tuple[float, float]]:
    """(before, after) times in hours ago around each null of a series."""
    now = time.time() * 1000
    found = []
    for i, (_, value) in enumerate(data):
        if value is None and 0 < i < len(data) - 1:
            found.append(((now - data[i - 1][0]) / 3.6e6, (now - data[i + 1][0]) / 3.6e6))
    return found


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
    plot = 'article[data-site="WWTP-01"] .plot'
    await expect(card.locator(".plot svg")).to_have_count(1)  # ECharts, SVG renderer
    series = await page.evaluate(CHART_SERIES, plot)
    assert [s["name"] for s in series] == ["进口 COD", "出口 COD"]
    inlet, outlet = (s["data"] for s in series)
    # The inlet line breaks at the 5 h hole and at the D-flagged reading (its 9,999 not drawn);
    # the outlet, reporting throughout, is one line.
    gaps = _gaps(inlet)
    assert len(gaps) == 2, gaps
    assert gaps[0][0] == pytest.approx(GAP_HOURS[1], abs=0.4)
    assert gaps[0][1] == pytest.approx(GAP_HOURS[0], abs=0.4)
    assert gaps[1][0] == pytest.approx(FAULT_HOURS_AGO + 1 / 3, abs=0.05)
    assert max(v for _, v in inlet if v is not None) < 400
    assert all(v is not None for _, v in outlet)
    await card.get_by_role("button", name="7 天").click()
    await expect(card.locator('.tabs button[aria-pressed="true"]')).to_have_text("7 天")
    await expect(page.locator(plot)).to_have_attribute("data-span", "7d")
    await expect(page.locator('#region-table tr[data-region="LYG"]')).to_be_visible()
    # Collection and collection-reduction rate bars, each with the 80 % and 95 % marks.
    hz = page.locator('#region-table tr[data-region="HZ"]')
    await expect(hz.locator(".rate .target.t80")).to_have_count(2)
    await expect(hz.locator(".rate .target.t95")).to_have_count(2)
    await expect(hz.locator("td").last).to_have_text("数据不足")  # an action in words, not a code
    await assert_chinese_renders(stack.browser, "h1")
    await assert_chinese_renders(stack.browser, "#regions h2")
    await stack.browser.screenshot("operator-page-zh")

    await page.click("#lang-toggle")
    await expect(page.locator("h1")).to_have_text("Water quality monitoring")
    await expect(page.locator("#regions th").nth(1)).to_have_text("Collection rate")
    await expect(hz.locator("td").last).to_have_text("insufficient data")
    await expect(page.locator("footer")).to_contain_text("readings from HJ 212")
    await expect(page.locator("#status-line")).to_contain_text("Updated")
    english = await page.evaluate(CHART_SERIES, plot)
    assert [s["name"] for s in english] == ["inlet COD", "outlet COD"]
    assert await page.title() == "Water quality monitoring"
    await stack.browser.screenshot("operator-page-en")
    # The key survives a reload (localStorage): no second prompt.
    await page.reload()
    await expect(page.locator('article[data-site="WWTP-01"]')).to_be_visible()
    await expect(page.locator("#key-dialog")).not_to_be_visible()
    favicon = await page.request.get("/favicon.ico")
    assert favicon.ok
    assert "<svg" in await favicon.text()
    assert stack.browser.foreign_requests == []
    assert stack.browser.errors == []


async def test_sign_in_link_takes_the_key_from_the_fragment(stack: Stack) -> None:
    page = stack.browser.page
    await page.goto(f"/#key={stack.key}")
    await _wait_for_board(page)
    assert page.url.endswith("/")  # the key left the address bar (and never went to the server)
    assert await page.evaluate("localStorage.getItem('wqmon.apiKey')") == stack.key
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
    # The message, severity and target in Chinese, from the alarm's rule and figures.
    await expect(row.locator("td").nth(3)).to_have_text(
        "数值 95000 mg/L 不合理（负值、接近合理上限或突变）"
    )
    await expect(row.locator("td.sev")).to_have_text("警告")
    await expect(row.locator("td.target")).to_contain_text("进口 · 化学需氧量")
    await assert_chinese_renders(stack.browser, "#alarm-list td.sev")
    # The severity is one line, not a column of single characters.
    lines = await row.locator("td.sev").evaluate(
        "td => { const r = document.createRange(); r.selectNodeContents(td);"
        " return new Set([...r.getClientRects()].map((b) => Math.round(b.top))).size; }"
    )
    assert lines == 1
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
    await page.click("#lang-toggle")
    await expect(row.locator("td").nth(3)).to_have_text(
        "implausible value 95000 mg/L (negative, near the plausible bound, or a jump)"
    )
    await expect(row.locator(".alarm-state")).to_have_text("acknowledged")
    assert shown_after < APPEARS_WITHIN_MS / 1000
    assert stack.browser.foreign_requests == []
    assert stack.browser.errors == []
