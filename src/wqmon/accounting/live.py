"""The live figures of a region-year: the rollups as they are now, with the current inputs."""

from __future__ import annotations

from datetime import date
from typing import Any

from wqmon.accounting.figures import Json, build_snapshot
from wqmon.accounting.inputs import Sources, sources_from
from wqmon.accounting.quality import audit_summary
from wqmon.balance.queries import region_periods
from wqmon.balance.regions import RegionSettings
from wqmon.balance.registry_view import Registry, load_registry
from wqmon.balance.store import Conn

INPUT_COLUMNS = (
    "id, kind, value, source_department, document_ref, document_date, note, entered_by, "
    "entered_at, replaced_at"
)


def year_bounds(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year + 1, 1, 1)


def input_rows(conn: Conn, region: str, year: int, *, current: bool = True) -> list[Json]:
    """The department inputs of a region-year (current ones, or the whole history)."""
    where = " AND replaced_at IS NULL" if current else ""
    cur = conn.execute(
        f"SELECT {INPUT_COLUMNS} FROM account_input "
        f"WHERE region_code = %s AND year = %s{where} ORDER BY kind, entered_at",
        (region, year),
    )
    names = [c.name for c in cur.description or []]
    return [_jsonable_row(dict(zip(names, row, strict=True))) for row in cur]


def _jsonable_row(row: dict[str, Any]) -> Json:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in row.items()}


def subtree_sources(registry: Registry, region: str, year: int) -> Sources:
    """The department loads of the region and its descendants for the year."""
    start, end = year_bounds(year)
    days = (end - start).days
    total = Sources()
    for ref in registry.subtree(region):
        total += sources_from(ref.inputs.get(year, {}), ref.registry_coefficients.get(year), days)
    return total


def live_snapshot(conn: Conn, region: str, year: int, settings: RegionSettings) -> Json:
    """The region-year's account computed now, in the shape of a frozen snapshot."""
    registry = load_registry(conn)
    start, end = year_bounds(year)
    [period] = region_periods(conn, registry, region, start, end, settings=settings)
    sites = [s.code for r in registry.subtree(region) for s in r.sites]
    return build_snapshot(
        period,
        registry,
        year=year,
        sources=subtree_sources(registry, region, year),
        inputs=input_rows(conn, region, year),
        quality=audit_summary(conn, sites, start, end),
        settings=settings,
    )
