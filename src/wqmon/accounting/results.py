"""The results applied: each region's action category with the figures behind it, the plan of
each plant under 260 mg/L influent (一厂一策) with its influent trend, the region's plan of
works (一区一策), and the 2025/2030 collection targets against the region's history."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from wqmon.accounting.accounts import latest_approved
from wqmon.accounting.actor import Actor
from wqmon.accounting.config import AccountingConfig
from wqmon.accounting.errors import AccountingError, NotFoundError
from wqmon.accounting.events import record
from wqmon.accounting.figures import Json
from wqmon.accounting.live import live_snapshot
from wqmon.balance.queries import plant_balance
from wqmon.balance.store import Conn

PLAN_STATUSES = ("planned", "in_progress", "done")
WORK_KINDS = ("sewer_network", "treatment_plant", "treatment_upgrade", "other")


@dataclass(frozen=True, slots=True)
class Rectification:
    measures: str
    responsible_unit: str
    deadline: date
    status: str


@dataclass(frozen=True, slots=True)
class Work:
    year: int
    name: str
    kind: str
    planned_completion: date
    capacity_m3_per_day: float | None = None
    length_km: float | None = None
    actual_completion: date | None = None


def _basis(conn: Conn, region: str, year: int, config: AccountingConfig) -> tuple[str, Json]:
    """The figures results stand on: the newest approved version, else the live account."""
    approved = latest_approved(conn, region, year)
    if approved is not None:
        return f"approved v{approved[0]}", approved[1]
    return "live", live_snapshot(conn, region, year, config.region)


def _site_region(conn: Conn, site: str) -> str:
    row = conn.execute("SELECT region_code FROM site WHERE code = %s", (site,)).fetchone()
    if row is None:
        raise NotFoundError(f"unknown site {site!r}")
    return str(row[0])


def set_rectification(conn: Conn, actor: Actor, site: str, year: int, plan: Rectification) -> None:
    """A county records (or updates) a plant's rectification plan for a year."""
    region = _site_region(conn, site)
    actor.require("county", region)
    if plan.status not in PLAN_STATUSES:
        raise AccountingError(f"status must be one of {', '.join(PLAN_STATUSES)}")
    if not plan.measures.strip() or not plan.responsible_unit.strip():
        raise AccountingError("a plan needs its measures and the responsible unit")
    with conn.transaction():
        old = conn.execute(
            "SELECT measures, responsible_unit, deadline, status FROM rectification_plan "
            "WHERE site_code = %s AND year = %s",
            (site, year),
        ).fetchone()
        conn.execute(
            "INSERT INTO rectification_plan (site_code, year, measures, responsible_unit, "
            "deadline, status, updated_by) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (site_code, year) DO UPDATE SET measures = excluded.measures, "
            "responsible_unit = excluded.responsible_unit, deadline = excluded.deadline, "
            "status = excluded.status, updated_by = excluded.updated_by, updated_at = now()",
            (
                site,
                year,
                plan.measures,
                plan.responsible_unit,
                plan.deadline,
                plan.status,
                actor.name,
            ),
        )
        after = {**dataclasses.asdict(plan), "deadline": plan.deadline.isoformat()}
        before = None
        if old is not None:
            before = dict(
                zip(("measures", "responsible_unit", "deadline", "status"), old, strict=True)
            )
            before["deadline"] = before["deadline"].isoformat()
        record(
            conn,
            actor,
            "rectification_set",
            region,
            year,
            f"plan {site}/{year}",
            {"before": before, "after": after},
        )


def _check_work(work: Work) -> None:
    if work.kind not in WORK_KINDS:
        raise AccountingError(f"kind must be one of {', '.join(WORK_KINDS)}")
    if not work.name.strip():
        raise AccountingError("a work needs a name")
    if work.kind == "sewer_network" and work.length_km is None:
        raise AccountingError("a sewer network work needs its length_km")
    if work.kind in ("treatment_plant", "treatment_upgrade") and work.capacity_m3_per_day is None:
        raise AccountingError("a plant work needs its capacity_m3_per_day")


def _work_of(row: Sequence[Any]) -> Work:
    """A Work from the `_WORK_COLUMNS` of a row."""
    year, name, kind, capacity, length, planned, actual = row
    return Work(year, name, kind, planned, capacity, length, actual)


_WORK_COLUMNS = (
    "year, name, kind, capacity_m3_per_day, length_km, planned_completion, actual_completion"
)


def _work_values(work: Work) -> tuple[Any, ...]:
    return (
        work.year,
        work.name.strip(),
        work.kind,
        work.capacity_m3_per_day,
        work.length_km,
        work.planned_completion,
        work.actual_completion,
    )


def add_work(conn: Conn, actor: Actor, region: str, work: Work) -> int:
    """A county adds a work to its region's plan."""
    actor.require("county", region)
    _check_work(work)
    with conn.transaction():
        row = conn.execute(
            f"INSERT INTO region_work (region_code, {_WORK_COLUMNS}, updated_by) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (region, *_work_values(work), actor.name),
        ).fetchone()
        if row is None:  # RETURNING always gives the row
            raise AccountingError("insert returned nothing")
        record(
            conn,
            actor,
            "work_added",
            region,
            work.year,
            f"work {row[0]}",
            {"after": _work_json(work)},
        )
    return int(row[0])


def update_work(conn: Conn, actor: Actor, work_id: int, work: Work) -> None:
    """A county changes a work of its plan (e.g. enters the actual completion)."""
    row = conn.execute(
        f"SELECT region_code, {_WORK_COLUMNS} FROM region_work WHERE id = %s",
        (work_id,),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no work {work_id}")
    region = str(row[0])
    actor.require("county", region)
    _check_work(work)
    with conn.transaction():
        conn.execute(
            "UPDATE region_work SET year = %s, name = %s, kind = %s, capacity_m3_per_day = %s, "
            "length_km = %s, planned_completion = %s, actual_completion = %s, updated_by = %s, "
            "updated_at = now() WHERE id = %s",
            (*_work_values(work), actor.name, work_id),
        )
        before = _work_json(_work_of(row[1:]))
        record(
            conn,
            actor,
            "work_changed",
            region,
            work.year,
            f"work {work_id}",
            {"before": before, "after": _work_json(work)},
        )


def _work_json(work: Work) -> Json:
    return {
        k: v.isoformat() if isinstance(v, date) else v for k, v in dataclasses.asdict(work).items()
    }


def works(conn: Conn, region: str) -> list[Json]:
    cur = conn.execute(
        f"SELECT id, {_WORK_COLUMNS}, updated_by, updated_at FROM region_work "
        "WHERE region_code = %s ORDER BY year, planned_completion, id",
        (region,),
    )
    out = []
    for wid, *fields, by, at in cur:
        work = _work_of(fields)
        item = _work_json(work) | {"id": wid, "updated_by": by, "updated_at": at.isoformat()}
        item["done"] = work.actual_completion is not None
        item["late"] = (
            work.actual_completion or datetime.now(UTC).date()
        ) > work.planned_completion
        out.append(item)
    return out


def _trend(conn: Conn, site: str, year: int) -> list[Json]:
    """Monthly flow-weighted inlet COD from January of the year to this month."""
    today = datetime.now(UTC).date()
    end = (date(today.year, today.month, 1) + timedelta(days=32)).replace(day=1)
    end = max(end, date(year + 1, 1, 1))
    body = plant_balance(conn, site, date(year, 1, 1), end, "month")
    periods: list[Json] = body["periods"]  # type: ignore[assignment]
    return [
        {
            "month": p["start"][:7],
            "inlet_conc_mg_l": p["inlet"]["conc_mg_l"],
            "coverage": p["inlet"]["load_coverage"],
        }
        for p in periods
    ]


def _plans(conn: Conn, sites: list[str], year: int) -> dict[str, Json]:
    cur = conn.execute(
        "SELECT site_code, measures, responsible_unit, deadline, status, updated_by, updated_at "
        "FROM rectification_plan WHERE site_code = ANY(%s) AND year = %s",
        (sites, year),
    )
    return {
        s: {
            "measures": m,
            "responsible_unit": u,
            "deadline": d.isoformat(),
            "status": st,
            "updated_by": by,
            "updated_at": at.isoformat(),
        }
        for s, m, u, d, st, by, at in cur
    }


def _history(conn: Conn, region: str, year: int, config: AccountingConfig) -> list[Json]:
    """The region's collection rate per year that has an account (approved where there is
    one), and the current year, against the targets."""
    years = {year} | {
        int(y)
        for (y,) in conn.execute("SELECT year FROM account WHERE region_code = %s", (region,))
    }
    out = []
    for y in sorted(years):
        basis, snapshot = _basis(conn, region, y, config)
        out.append(
            {
                "year": y,
                "basis": basis,
                "collection_rate": snapshot["figures"]["collection_rate"]["value"],
                "collection_reduction_rate": snapshot["figures"]["collection_reduction_rate"][
                    "value"
                ],
            }
        )
    return out


def results(conn: Conn, actor: Actor, region: str, year: int, config: AccountingConfig) -> Json:
    """The results applied for a region-year (read by every role within its regions)."""
    actor.require_read(region)
    basis, snapshot = _basis(conn, region, year, config)
    low = [p for p in snapshot["plants"] if p["below_260"]]
    plans = _plans(conn, [p["site"] for p in low], year)
    return {
        "region": region,
        "name": snapshot["name"],
        "year": year,
        "basis": basis,
        "decision": snapshot["decision"],
        "low_influent_plants": [
            {
                "site": p["site"],
                "name": p["name"],
                "region": p["region"],
                "inlet_conc_mg_l": p["inlet_conc_mg_l"]["value"],
                "low_conc_days": p["low_conc_days"]["value"],
                "evaluated_days": p["evaluated_days"]["value"],
                "plan": plans.get(p["site"]),
                "trend": _trend(conn, p["site"], year),
            }
            for p in low
        ],
        "works": works(conn, region),
        "targets": [{"year": y, "rate": r} for y, r in config.region.targets],
        "history": _history(conn, region, year, config),
    }
