"""The accounting tests' city: readings of one local day, rolled up, department inputs, keys,
and an independent calculation of every account figure from the readings and the inputs.

One local day, 2025-03-01 (Asia/Shanghai): flow every 10 min, COD every hour, constant values.
The figures are chosen so each region lands in another action category: HZ collects 70 % with
ample capacity (fix the network), GY's plant is too small for its production and its influent
is diluted (build capacity; a plant under 260 mg/L), KFQ collects 90 % but removes 70 %
(upgrade treatment).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg

from tests.fixtures.api_data import insert_readings
from tests.integration.balance_series import DAY_END, DAY_START, Sample, independent
from wqmon.api.keys import create_key
from wqmon.balance.job import rebuild
from wqmon.registry.importer import import_file

REGISTRY = Path(__file__).parents[1] / "testcases" / "accounting" / "registry.yaml"
YEAR = 2025
DAYS = 365
TAIL = timedelta(hours=5)  # the last samples hold past the day's end (gap 15 min, hold 4 h)


@dataclass(frozen=True)
class Stream:
    """A point's constant flow (m³/h) and COD (mg/L) over the day."""

    site: str
    point: str
    flow: float
    cod: float

    def samples(self) -> tuple[list[Sample], list[Sample]]:
        flow = [(DAY_START + i * timedelta(minutes=10), self.flow, "N") for i in range(144)]
        cod = [(DAY_START + i * timedelta(hours=1), self.cod, "N") for i in range(24)]
        return flow, cod


STREAMS = (
    Stream("WWTP-A", "inlet", 1000.0, 300.0),
    Stream("WWTP-A", "outlet", 1000.0, 30.0),
    Stream("WWTP-B", "inlet", 800.0, 220.0),
    Stream("WWTP-B", "outlet", 800.0, 20.0),
    Stream("WWTP-C", "inlet", 500.0, 400.0),
    Stream("WWTP-C", "outlet", 500.0, 120.0),
    Stream("ENT-A", "outfall", 50.0, 400.0),
    Stream("ENT-C", "outfall", 30.0, 300.0),
)

# Department inputs per region: (kind, value, department, document).
INPUTS: dict[str, list[tuple[str, float, str, str]]] = {
    "HZ": [
        ("urban_population", 350, "海州区统计局", "海统〔2026〕3号"),
        ("cod_g_per_person_day", 70, "海州区生态环境局", "海环〔2026〕1号"),
        ("self_supplied_water_m3", 2000, "海州区水利局", "海水〔2026〕7号"),
        ("self_supplied_cod_mg_l", 200, "海州区水利局", "海水〔2026〕7号"),
        ("livestock_cod_kg", 500, "海州区农业农村局", "海农〔2026〕2号"),
    ],
    "GY": [
        ("urban_population", 280, "赣榆区统计局", "赣统〔2026〕5号"),  # returned: should be 300
        ("cod_g_per_person_day", 70, "赣榆区生态环境局", "赣环〔2026〕4号"),
    ],
    "KFQ": [
        ("urban_population", 200, "开发区管委会", "开管〔2026〕9号"),
        ("cod_g_per_person_day", 70, "开发区生态环境局", "开环〔2026〕2号"),
        ("other_cod_kg", 100, "开发区管委会", "开管〔2026〕9号"),
    ],
}
GY_CORRECTED_POPULATION = 300.0
PLANTS = {"HZ": "WWTP-A", "GY": "WWTP-B", "KFQ": "WWTP-C"}
ENTERPRISES = {"HZ": ["ENT-A"], "GY": [], "KFQ": ["ENT-C"]}


def load(db_url: str) -> None:
    """Import the registry, store the day's readings and roll them up."""
    import_file(db_url, REGISTRY)
    for s in STREAMS:
        flow, cod = s.samples()
        insert_readings(db_url, s.site, s.point, "flow", flow)
        insert_readings(db_url, s.site, s.point, "cod", cod)
    with psycopg.connect(db_url) as conn:
        rebuild(conn, DAY_START - timedelta(hours=3), DAY_END + TAIL)


def stream_load(site: str, point: str) -> float:
    """kg of COD the point carried, minute by minute (tests/integration/balance_series.py)."""
    s = next(x for x in STREAMS if (x.site, x.point) == (site, point))
    flow, cod = s.samples()
    return independent(flow, cod, DAY_START, DAY_END + TAIL)[1]


def expected(region: str, population: float | None = None) -> dict[str, float]:
    """The region's account figures computed from the readings and inputs above."""
    values = {k: v for k, v, _, _ in INPUTS[region]}
    if population is not None:
        values["urban_population"] = population
    domestic = values["urban_population"] * values["cod_g_per_person_day"] * DAYS / 1000
    self_supplied = (
        values.get("self_supplied_water_m3", 0) * values.get("self_supplied_cod_mg_l", 0) / 1000
    )
    other = values.get("livestock_cod_kg", 0) + values.get("other_cod_kg", 0)
    industrial = sum(stream_load(e, "outfall") for e in ENTERPRISES[region])
    collected = stream_load(PLANTS[region], "inlet")
    reduced = collected - stream_load(PLANTS[region], "outlet")
    produced = domestic + industrial + self_supplied + other
    return {
        "domestic_kg": domestic,
        "industrial_kg": industrial,
        "produced_kg": produced,
        "collected_kg": collected,
        "reduced_kg": reduced,
        "collection_rate": collected / produced,
        "collection_reduction_rate": reduced / produced,
    }


@dataclass(frozen=True)
class Keys:
    hz: dict[str, str]
    gy: dict[str, str]
    kfq: dict[str, str]
    city: dict[str, str]
    province: dict[str, str]
    operator: dict[str, str]

    def county(self, region: str) -> dict[str, str]:
        return {"HZ": self.hz, "GY": self.gy, "KFQ": self.kfq}[region]


def keys(db_url: str) -> Keys:
    def key(name: str, role: str, regions: list[str] | None = None) -> dict[str, str]:
        return {"X-API-Key": create_key(db_url, name=name, role=role, regions=regions)}

    return Keys(
        key("海州区生态环境局", "county", ["HZ"]),
        key("赣榆区生态环境局", "county", ["GY"]),
        key("开发区生态环境局", "county", ["KFQ"]),
        key("连云港市生态环境局", "city", ["LYG"]),
        key("江苏省生态环境厅", "province", ["LYG"]),
        key("operator", "operator"),
    )


def input_body(value: float, department: str, document: str) -> dict[str, object]:
    return {
        "value": value,
        "source_department": department,
        "document_ref": document,
        "document_date": "2026-02-15",
    }


def run_cycle(db_url: str, *, min_coverage: float = 0.0) -> None:
    """The whole cycle through the library (not HTTP): every account submitted, GY returned
    and resubmitted, all approved, the report made, a finding, a plan and a work recorded."""
    from datetime import date  # noqa: PLC0415

    from wqmon.accounting import accounts, reports, results  # noqa: PLC0415
    from wqmon.accounting.actor import Actor  # noqa: PLC0415
    from wqmon.accounting.config import config_from  # noqa: PLC0415
    from wqmon.accounting.inputs import InputKind  # noqa: PLC0415

    config = config_from("04-30", min_coverage)
    city = Actor("连云港市生态环境局", "city", frozenset({"LYG", "HZ", "GY", "KFQ"}))
    with psycopg.connect(db_url, autocommit=True) as conn:
        for region in ("HZ", "GY", "KFQ"):
            county = Actor(f"{region} 生态环境局", "county", frozenset({region}))
            accounts.open_account(conn, county, region, YEAR)
            for kind, value, dept, doc in INPUTS[region]:
                entry = accounts.InputEntry(InputKind(kind), value, dept, doc, date(2026, 2, 15))
                accounts.set_input(conn, county, region, YEAR, entry)
            accounts.submit(conn, county, region, YEAR, config)
        gy = Actor("GY 生态环境局", "county", frozenset({"GY"}))
        comment = accounts.Comment("urban_population", "人口应采用2025年统计公报数 300")
        accounts.return_account(conn, city, "GY", YEAR, [comment])
        entry = accounts.InputEntry(
            InputKind.URBAN_POPULATION,
            GY_CORRECTED_POPULATION,
            "赣榆区统计局",
            "赣统〔2026〕6号",
            date(2026, 3, 2),
        )
        accounts.set_input(conn, gy, "GY", YEAR, entry)
        accounts.submit(conn, gy, "GY", YEAR, config)
        for region in ("HZ", "GY", "KFQ"):
            accounts.approve(conn, city, region, YEAR)
        version = reports.compile_report(conn, city, "LYG", YEAR, config)
        province = Actor("江苏省生态环境厅", "province", frozenset({"LYG", "HZ", "GY", "KFQ"}))
        reports.record_finding(
            conn,
            province,
            "LYG",
            YEAR,
            version,
            finding="赣榆区处理能力缺口需列入年度计划",
            about_region="GY",
        )
        plan = results.Rectification(
            "排查雨污混接，修复破损管网 12 km", "赣榆区住建局", date(2026, 12, 31), "in_progress"
        )
        results.set_rectification(conn, gy, "WWTP-B", YEAR, plan)
        work = results.Work(
            2026, "赣榆污水处理厂二期", "treatment_plant", date(2026, 10, 31), 200.0
        )
        results.add_work(conn, gy, "GY", work)


def late_reading(db_url: str) -> None:
    """An hour of inlet data at WWTP-A after the day, stored after approval, and rolled up."""
    flow = [(DAY_END + timedelta(hours=2, minutes=10 * i), 1000.0, "N") for i in range(6)]
    insert_readings(db_url, "WWTP-A", "inlet", "flow", flow)
    insert_readings(db_url, "WWTP-A", "inlet", "cod", [(DAY_END + timedelta(hours=2), 300.0, "N")])
    with psycopg.connect(db_url) as conn:
        rebuild(conn, DAY_END, DAY_END + timedelta(hours=8))
