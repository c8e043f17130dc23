"""`wqmon balance report` and `wqmon balance rebuild` against a real database."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from openpyxl import load_workbook

from tests.fixtures.browser import assert_chinese_renders, browser_page
from tests.integration.balance_series import DAY_END, DAY_START, SERIES
from wqmon.balance.queries import region_balance
from wqmon.cli import main

SHEETS = ["region", "children", "plants", "enterprises", "monthly", "about"]


def _insert_series(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        for (site, point, alias), samples in SERIES.items():
            row = conn.execute(
                "SELECT c.id FROM channel c JOIN point p ON p.id = c.point_id "
                "JOIN site s ON s.id = p.site_id WHERE s.code = %s AND p.code = %s "
                "AND c.parameter = %s",
                (site, point, {"flow": "w00000", "cod": "w01018"}[alias]),
            ).fetchone()
            assert row is not None
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO reading VALUES (%s, %s, %s, %s, 'test', now())",
                    [(row[0], ts, value, flag) for ts, value, flag in samples],
                )


@pytest.fixture
def rolled_up(registry_db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The example registry with the hand-made day, rolled up by `wqmon balance rebuild`."""
    _insert_series(registry_db_url)
    monkeypatch.setenv("WQMON_DATABASE_URL", registry_db_url)
    start = (DAY_START - timedelta(hours=3)).isoformat()
    end = (DAY_END + timedelta(hours=5)).isoformat()
    assert main(["balance", "rebuild", "--from", start, "--to", end]) == 0
    return registry_db_url


def _expected(db_url: str) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        body = region_balance(conn, "LYG", year=2025)
    periods = body["periods"]
    assert isinstance(periods, list)
    account: dict[str, Any] = periods[0]["account"]
    assert account["collected_kg"] > 1000
    return account


def test_csv_report_lists_every_figure_with_its_coverage(rolled_up: str, tmp_path: Path) -> None:
    out = tmp_path / "lyg.csv"
    assert main(["balance", "report", "--region", "LYG", "--year", "2025", "--format", "csv",
                 "--output", str(out)]) == 0  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    account = _expected(rolled_up)
    by = {(r["level"], r["code"], r["figure"]): r for r in rows}
    collected = by[("region", "LYG", "collected_kg")]
    assert float(collected["value"]) == pytest.approx(account["collected_kg"], rel=1e-6)
    assert float(collected["coverage"]) == pytest.approx(account["collected_coverage"], abs=1e-4)
    assert collected["label_zh"] == "集中收集量"
    assert {r["code"] for r in rows if r["level"] == "children"} == {"HZ", "GY", "KFQ"}
    assert float(by[("plants", "WWTP-01", "collected_kg")]["value"]) == pytest.approx(
        account["collected_kg"], rel=1e-6
    )
    assert float(by[("enterprises", "ENT-01", "load_kg")]["value"]) > 0
    months = [r for r in rows if r["level"] == "monthly" and r["figure"] == "collected_kg"]
    assert len(months) == 12
    assert sum(float(r["value"]) for r in months) == pytest.approx(account["collected_kg"])


def test_xlsx_report_has_one_sheet_per_level(rolled_up: str, tmp_path: Path) -> None:
    out = tmp_path / "lyg.xlsx"
    assert main(["balance", "report", "--region", "LYG", "--year", "2025", "--format", "xlsx",
                 "--output", str(out)]) == 0  # fmt: skip
    book = load_workbook(out, read_only=True)
    assert book.sheetnames == SHEETS
    plants = list(book["plants"].iter_rows(values_only=True))
    header, body = plants[0], {row[0]: row for row in plants[1:]}
    assert set(body) == {"WWTP-01", "WWTP-02", "WWTP-03", "WWTP-04"}
    column = header.index("进水负荷(收集量) inlet load (collected) (kg)")
    assert header[column + 1] == "覆盖率 coverage: inlet load (collected)"
    account = _expected(rolled_up)
    assert body["WWTP-01"][column] == pytest.approx(account["collected_kg"], rel=1e-6)
    assert body["WWTP-02"][column] == 0
    region = list(book["region"].iter_rows(values_only=True))
    assert region[1][0] == "LYG"
    assert len(list(book["monthly"].iter_rows())) == 13
    book.close()


def _html(out: Path, lang: str) -> str:
    assert main(["balance", "report", "--region", "LYG", "--year", "2025", "--format", "html",
                 "--lang", lang, "--output", str(out)]) == 0  # fmt: skip
    return out.read_text(encoding="utf-8")


def test_html_report_is_self_contained_with_figures_and_charts(
    rolled_up: str, tmp_path: Path
) -> None:
    page = _html(tmp_path / "lyg.html", "zh")
    account = _expected(rolled_up)
    assert f"{account['collected_kg']:,.1f}" in page
    assert page.count("<svg") == 4  # monthly loads, monthly rates, rates per region, inlet COD
    assert "260 mg/L" in page
    assert "2030 目标 95%" in page
    assert "@page { size: A4 portrait" in page
    assert "@page wide { size: A4 landscape" in page
    # Nothing to fetch: no scripts, no external stylesheets, images or fonts.
    assert "<script" not in page
    assert re.search(r'(src|href)="(https?:)?//', page) is None
    # Chart labels are text (the page's CJK fonts draw them), not outlines.
    assert re.search(r"<text[^>]*>[^<]*集中收集率", page)
    # The cover: region, year, coverage, and the action category in words, never its code.
    cover = page[page.index('<section class="cover">') : page.index('<section class="figures">')]
    assert "连云港市 2025 年 COD 平衡核算" in cover
    assert f"收集量 {account['collected_coverage']:.1%}" in cover
    words = {"fix_network": "完善管网", "build_capacity": "新建处理能力",
             "upgrade_treatment": "提标改造", "insufficient_data": "数据不足"}  # fmt: skip
    assert account["actions"], account
    for action in account["actions"]:
        assert words[action] in cover
        assert action not in page


def test_html_report_in_english(rolled_up: str, tmp_path: Path) -> None:
    page = _html(tmp_path / "lyg-en.html", "en")
    account = _expected(rolled_up)
    assert '<html lang="en">' in page
    assert "COD balance 2025" in page
    assert "Collection rate" in page
    assert "2030 target 95%" in page
    assert f"{account['collected_kg']:,.1f}" in page
    assert "集中收集率" not in page
    assert "整治方向" not in page
    assert all(action not in page for action in account["actions"])


def test_html_report_prints_on_a4_with_readable_chinese(rolled_up: str, tmp_path: Path) -> None:
    for lang in ("zh", "en"):
        page = _html(tmp_path / f"lyg-{lang}.html", lang)
        pdf = asyncio.run(_print(page, lang))
        # Portrait pages for the cover and figures, landscape ones for the tables.
        boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
        sizes = {(round(float(w)), round(float(h))) for w, h in boxes}
        assert sizes == {(595, 842), (842, 595)}, sizes
        assert len(boxes) >= 3


# A4 less the report's margins, in CSS pixels (96 per inch): 210 - 2 × 14 mm and 297 - 2 × 12 mm.
PORTRAIT_PX = (210 - 28) / 25.4 * 96
LANDSCAPE_PX = (297 - 24) / 25.4 * 96
FITS = """([selector, width]) => [...document.querySelectorAll(selector)].map((el) => {
    const inner = [el, ...el.querySelectorAll("table, svg")];
    return Math.max(...inner.map((x) => x.getBoundingClientRect().right)) <= width + 0.5
        && el.scrollWidth <= Math.ceil(width);
})"""


async def _print(html: str, lang: str) -> bytes:
    """Lay the report out as Chromium prints it; its first page as a PNG; the PDF."""
    async with browser_page("http://127.0.0.1:9") as browser:
        page = browser.page
        await page.emulate_media(media="print")
        await page.set_viewport_size({"width": round(PORTRAIT_PX), "height": 1000})
        await page.set_content(html)
        await page.add_style_tag(content="body { margin: 0 !important; }")
        assert await page.evaluate(FITS, [".cover, .figures", PORTRAIT_PX]) == [True, True]
        if lang == "zh":
            await assert_chinese_renders(browser, ".cover h1")
            await assert_chinese_renders(browser, ".tables th")
        # The first page as printed: A4 at 96 dpi with the 14 mm margins, the cover alone.
        margin = round(14 / 25.4 * 96)
        await page.set_viewport_size({"width": 794, "height": 1123})
        shot = f"body {{ padding: {margin}px !important; }} .figures, .tables {{ display: none; }}"
        hide = await page.add_style_tag(content=shot)
        await browser.screenshot(f"balance-report-cover-{lang}", full_page=False)
        await hide.evaluate("node => node.remove()")
        await page.set_viewport_size({"width": round(LANDSCAPE_PX), "height": 1000})
        fits = await page.evaluate(FITS, [".tables section", LANDSCAPE_PX])
        assert fits, fits
        assert all(fits), fits
        pdf = await page.pdf(prefer_css_page_size=True, print_background=True)
        assert browser.foreign_requests == []
        assert browser.errors == []
        return pdf


def test_report_of_an_unknown_region_is_a_clear_error(
    rolled_up: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.csv"
    code = main(["balance", "report", "--region", "NOPE", "--year", "2025", "--format", "csv",
                 "--output", str(out)])  # fmt: skip
    assert code == 2
    assert "unknown region 'NOPE'" in capsys.readouterr().err
    assert rolled_up
