"""The annual accounting cycle end to end: real TimescaleDB, the real API over HTTP.

Two counties and a park account 2025 and submit; the city returns one with a comment on a
figure; it is corrected and resubmitted; the city approves all and exports its assessment
report (XLSX checked with openpyxl against an independent calculation from the readings); the
province records a finding; a late reading afterwards changes the live figures but not the
approved ones, and the account shows the difference.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest
from openpyxl import load_workbook

from tests.fixtures.api import running_api
from tests.fixtures.api_data import insert_readings
from tests.integration import accounting_scenario as sc
from tests.integration.balance_series import DAY_END, DAY_START, independent
from wqmon.accounting.export import label
from wqmon.audit.store import Target, create_mark
from wqmon.balance.job import rebuild
from wqmon.settings import Settings

Y = sc.YEAR
REGIONS = ("HZ", "GY", "KFQ")


def _settings(db: str) -> Settings:
    # One day of data is < 1 % of the year's hours: judge the action categories regardless.
    return Settings(database_url=db, batch_linger_s=0.02, accounting_min_coverage=0.0)


async def _ok(resp: httpx.Response, code: int = 200) -> Any:
    assert resp.status_code == code, resp.text
    return resp.json()


async def _fill(c: httpx.AsyncClient, keys: sc.Keys, region: str) -> None:
    head = keys.county(region)
    await _ok(await c.post(f"/api/v1/accounting/accounts/{region}/{Y}", headers=head), 201)
    for kind, value, dept, doc in sc.INPUTS[region]:
        body = sc.input_body(value, dept, doc)
        url = f"/api/v1/accounting/accounts/{region}/{Y}/inputs/{kind}"
        await _ok(await c.put(url, json=body, headers=head))


async def _submit(c: httpx.AsyncClient, keys: sc.Keys, region: str) -> int:
    url = f"/api/v1/accounting/accounts/{region}/{Y}/submit"
    body = await _ok(await c.post(url, headers=keys.county(region)))
    return int(body["version"])


def _figure(view: dict[str, Any], key: str, which: str = "frozen") -> float:
    return float(view[which]["figures"][key]["value"])


@pytest.fixture
def city(db_url: str) -> tuple[str, sc.Keys]:
    sc.load(db_url)
    return db_url, sc.keys(db_url)


async def test_counties_submit_city_returns_approves_reports_and_late_data_stays_out(  # noqa: PLR0915 - one cycle
    city: tuple[str, sc.Keys],
) -> None:
    db, keys = city
    async with (
        running_api(_settings(db)) as base,
        httpx.AsyncClient(base_url=base, timeout=60) as c,
    ):
        # --- counties: open, enter the department inputs, submit -----------------------------
        for region in REGIONS:
            await _fill(c, keys, region)
        refused = await c.post(f"/api/v1/accounting/accounts/HZ/{Y}/submit", headers=keys.gy)
        assert refused.status_code == 403  # GY's key does not act for HZ
        assert (
            await c.post(f"/api/v1/accounting/accounts/HZ/{Y}/submit", headers=keys.city)
        ).status_code == 403
        assert [await _submit(c, keys, r) for r in REGIONS] == [1, 1, 1]
        again = await c.put(
            f"/api/v1/accounting/accounts/HZ/{Y}/inputs/livestock_cod_kg",
            json=sc.input_body(1, "x", "y"),
            headers=keys.hz,
        )
        assert again.status_code == 409  # a submitted account is frozen

        # --- city: review list, return GY with a comment on the population ----------------------
        listing = await _ok(
            await c.get("/api/v1/accounting/accounts", params={"year": Y}, headers=keys.city)
        )
        assert {r["region"]: r["state"] for r in listing} == dict.fromkeys(REGIONS, "submitted")
        assert {r["deadline"] for r in listing} == {f"{Y + 1}-04-30"}
        comment = {"figure": "urban_population", "comment": "人口应采用2025年统计公报数 300"}
        await _ok(
            await c.post(
                f"/api/v1/accounting/accounts/GY/{Y}/return",
                json={"comments": [comment]},
                headers=keys.city,
            )
        )
        early = await c.post(f"/api/v1/accounting/reports/LYG/{Y}", headers=keys.city)
        assert early.status_code == 409
        assert "GY (returned)" in early.json()["detail"]

        # --- GY corrects and resubmits: version 2 ------------------------------------------------
        gy = await _ok(await c.get(f"/api/v1/accounting/accounts/GY/{Y}", headers=keys.gy))
        assert gy["state"] == "returned"
        assert [(x["figure"], x["version"]) for x in gy["comments"]] == [("urban_population", 1)]
        body = sc.input_body(sc.GY_CORRECTED_POPULATION, "赣榆区统计局", "赣统〔2026〕6号")
        await _ok(
            await c.put(
                f"/api/v1/accounting/accounts/GY/{Y}/inputs/urban_population",
                json=body,
                headers=keys.gy,
            )
        )
        assert await _submit(c, keys, "GY") == 2

        # --- city approves all and makes the report ----------------------------------------------
        for region in REGIONS:
            url = f"/api/v1/accounting/accounts/{region}/{Y}/approve"
            await _ok(await c.post(url, json={"comments": []}, headers=keys.city))
        made = await _ok(
            await c.post(f"/api/v1/accounting/reports/LYG/{Y}", headers=keys.city), 201
        )
        assert made["version"] == 1
        views = {
            r: await _ok(await c.get(f"/api/v1/accounting/accounts/{r}/{Y}", headers=keys.city))
            for r in REGIONS
        }
        expected = {
            "HZ": sc.expected("HZ"),
            "GY": sc.expected("GY", sc.GY_CORRECTED_POPULATION),
            "KFQ": sc.expected("KFQ"),
        }
        for region in REGIONS:
            for key, value in expected[region].items():
                assert _figure(views[region], key) == pytest.approx(value, rel=1e-9), (region, key)
        assert views["GY"]["version"] == 2
        assert [v["state"] for v in views["GY"]["versions"]] == ["returned", "approved"]
        actions = {r: views[r]["frozen"]["decision"]["actions"] for r in REGIONS}
        assert actions == {
            "HZ": ["fix_network"],
            "GY": ["build_capacity"],
            "KFQ": ["upgrade_treatment"],
        }

        xlsx = await c.get(f"/api/v1/accounting/reports/LYG/{Y}/1/xlsx", headers=keys.city)
        assert xlsx.status_code == 200
        _check_workbook(xlsx.content, expected)
        html = await c.get(f"/api/v1/accounting/reports/LYG/{Y}/1/html", headers=keys.province)
        assert "赣榆污水处理厂" in html.text
        assert "@page { size: A4" in html.text
        pdf = await c.get(f"/api/v1/accounting/reports/LYG/{Y}/1/pdf", headers=keys.city)
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")

        # --- province: a finding against version 1 -----------------------------------------------
        finding = {
            "finding": "赣榆区处理能力缺口需列入年度计划",
            "region": "GY",
            "figure": "capacity_gap_m3_per_day",
        }
        assert (
            await c.post(
                f"/api/v1/accounting/reports/LYG/{Y}/1/findings", json=finding, headers=keys.city
            )
        ).status_code == 403
        await _ok(
            await c.post(
                f"/api/v1/accounting/reports/LYG/{Y}/1/findings",
                json=finding,
                headers=keys.province,
            ),
            201,
        )
        report = await _ok(
            await c.get(f"/api/v1/accounting/reports/LYG/{Y}", headers=keys.operator)
        )
        assert [f["region"] for f in report["latest"]["findings"]] == ["GY"]

        # --- a late reading: the live figures move, the approved ones do not ----------------------
        before = await c.get(f"/api/v1/accounting/reports/LYG/{Y}/1/xlsx", headers=keys.city)
        late_flow = [(DAY_END + timedelta(hours=2, minutes=10 * i), 1000.0, "N") for i in range(6)]
        late_cod = [(DAY_END + timedelta(hours=2), 300.0, "N")]
        insert_readings(db, "WWTP-A", "inlet", "flow", late_flow)
        insert_readings(db, "WWTP-A", "inlet", "cod", late_cod)
        with psycopg.connect(db) as conn:
            rebuild(conn, DAY_END, DAY_END + timedelta(hours=8))
        flow, cod = sc.Stream("WWTP-A", "inlet", 1000.0, 300.0).samples()
        late_end = DAY_END + timedelta(hours=8)
        added = independent(flow + late_flow, cod + late_cod, DAY_START, late_end)[1]
        added -= independent(flow, cod, DAY_START, late_end)[1]
        assert added == pytest.approx(1000.0 * 65 / 60 * 300 / 1000)  # 65 min more at the inlet
        hz = await _ok(await c.get(f"/api/v1/accounting/accounts/HZ/{Y}", headers=keys.hz))
        assert hz["state"] == "approved"
        assert _figure(hz, "collected_kg") == pytest.approx(
            expected["HZ"]["collected_kg"], rel=1e-9
        )
        assert _figure(hz, "collected_kg", "live") == pytest.approx(
            expected["HZ"]["collected_kg"] + added, rel=1e-9
        )
        diff = hz["differences"]["collected_kg"]
        assert diff["changed"]
        assert diff["difference"] == pytest.approx(added, rel=1e-9)
        assert not hz["differences"]["domestic_kg"]["changed"]
        after = await c.get(f"/api/v1/accounting/reports/LYG/{Y}/1/xlsx", headers=keys.city)
        assert _rows(after.content) == _rows(before.content)

        # --- an audit mark afterwards: GY's live figures move, its approved ones do not --------
        mark_start, mark_end = DAY_START + timedelta(hours=10), DAY_START + timedelta(hours=12)
        with psycopg.connect(db) as conn:
            create_mark(
                conn,
                Target("WWTP-B", "inlet"),
                start=mark_start,
                end=mark_end,
                validity="invalid",
                reason="maintenance",
                comment="进水泵检修",
                user="operator",
            )
            conn.commit()
            rebuild(conn, DAY_START - timedelta(hours=3), DAY_END + sc.TAIL)
        flow, cod = sc.Stream("WWTP-B", "inlet", 800.0, 220.0).samples()
        flagged = [(t, v, "M" if mark_start <= t < mark_end else f) for t, v, f in flow]
        lost = independent(flagged, cod, DAY_START, DAY_END + sc.TAIL)[1] - sc.stream_load(
            "WWTP-B", "inlet"
        )
        assert lost == pytest.approx(-800.0 * 2 * 220 / 1000)
        gy = await _ok(await c.get(f"/api/v1/accounting/accounts/GY/{Y}", headers=keys.gy))
        assert _figure(gy, "collected_kg") == pytest.approx(
            expected["GY"]["collected_kg"], rel=1e-9
        )
        assert gy["differences"]["collected_kg"]["difference"] == pytest.approx(lost, rel=1e-9)
        assert gy["frozen"]["quality"]["marks"] == []
        assert [m["reason"] for m in gy["audit_changes"]["added_marks"]] == ["maintenance"]

        # --- publication: no key, approved figures only -------------------------------------------
        public = await _ok(await c.get("/api/v1/public/progress", params={"year": Y}))
        rates = {r["region"]: r["collection_rate"] for r in public["regions"]}
        assert rates == pytest.approx({r: expected[r]["collection_rate"] for r in REGIONS})
        assert [r["region"] for r in public["lagging_regions"]] == ["GY", "HZ"]
        assert public["lagging_parks"] == []
        csv_text = (await c.get("/api/v1/public/progress.csv", params={"year": Y})).text
        assert csv_text.count("\n") == 4
        assert "赣榆区" in csv_text

        # --- the audit trail of GY: every step, who and what changed ------------------------------
        trail = await _ok(
            await c.get(
                "/api/v1/accounting/events", params={"region": "GY", "year": Y}, headers=keys.city
            )
        )
        steps = [(e["action"], e["actor"]) for e in trail]
        assert steps == [
            ("opened", "赣榆区生态环境局"),
            ("input_set", "赣榆区生态环境局"),
            ("input_set", "赣榆区生态环境局"),
            ("submitted", "赣榆区生态环境局"),
            ("returned", "连云港市生态环境局"),
            ("input_set", "赣榆区生态环境局"),
            ("submitted", "赣榆区生态环境局"),
            ("approved", "连云港市生态环境局"),
        ]
        corrected = trail[5]["detail"]
        assert corrected["before"]["value"] == 280
        assert corrected["after"]["value"] == 300


def _rows(content: bytes) -> dict[str, list[tuple[Any, ...]]]:
    book = load_workbook(io.BytesIO(content), read_only=True)
    out = {
        name: [tuple(r) for r in book[name].iter_rows(values_only=True)] for name in book.sheetnames
    }
    book.close()
    return out


def _check_workbook(content: bytes, expected: dict[str, dict[str, float]]) -> None:
    sheets = _rows(content)
    assert list(sheets) == ["regions", "plants", "inputs", "findings", "about"]
    header, *rows = sheets["regions"]
    by = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert list(by) == ["LYG", "GY", "HZ", "KFQ"]  # the city, then its children by code
    for key in ("produced_kg", "collected_kg", "reduced_kg", "domestic_kg", "industrial_kg"):
        for region in REGIONS:
            assert by[region][label(key)] == pytest.approx(expected[region][key], rel=1e-9)
        total = sum(expected[r][key] for r in REGIONS)
        assert by["LYG"][label(key)] == pytest.approx(total, rel=1e-9), key
    city_rate = sum(expected[r]["collected_kg"] for r in REGIONS) / sum(
        expected[r]["produced_kg"] for r in REGIONS
    )
    assert by["LYG"][label("collection_rate")] == pytest.approx(city_rate, rel=1e-9)
    plants = {row[0]: row for row in sheets["plants"][1:]}
    assert plants["WWTP-B"][-1] is True
    assert plants["WWTP-A"][-1] is False
    inputs = sheets["inputs"][1:]
    population = [r for r in inputs if r[0] == "GY" and r[1] == "urban_population"]
    assert [(r[3], r[6]) for r in population] == [(300, "赣统〔2026〕6号")]
