"""`/api/v1/audit/*`, `/api/v1/validity`, `/api/v1/compliance`, `/api/v1/reports/daily/{site}`
(docs/audit.md). Writes need an operator or admin key and are recorded under the key's name.

The audit code is synchronous psycopg shared with the CLI, so it runs in a worker thread on a
connection of the app's synchronous pool; the pool commits when the work returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar, get_args

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from psycopg_pool import ConnectionPool
from pydantic import AwareDatetime, BaseModel, Field, field_validator

from wqmon.api.deps import AppState, Caller, State, ensure_readable, require_role
from wqmon.api.errors import error_responses
from wqmon.api.keys import ApiKey
from wqmon.api.routes.balance import SYNC_POOL
from wqmon.audit import store
from wqmon.audit.coverage import COLUMNS as COVERAGE_COLUMNS
from wqmon.audit.coverage import Facility, check_coverage, coverage_rows, report_of, rule_from
from wqmon.audit.daily import daily_report, report_csv, report_html, report_xlsx
from wqmon.audit.export import csv_bytes, xlsx_bytes
from wqmon.audit.model import REASONS
from wqmon.audit.trace import balance_trace
from wqmon.audit.validity import validity_report
from wqmon.balance.accounts import Granularity
from wqmon.balance.records import DEFAULT_SETTINGS
from wqmon.errors import ConfigError

router = APIRouter(tags=["audit"])
Operator = Annotated[ApiKey, require_role("operator", "admin")]
T = TypeVar("T")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
Reason = Literal[
    "maintenance",
    "calibration",
    "instrument_fault",
    "sampling_fault",
    "power_cut",
    "network_fault",
    "shutdown",
    "lab_result",
    "other",
]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
QName = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
Day = Annotated[date, Query(ge=date(2000, 1, 1), le=date(2100, 1, 1))]
MAX_DAYS = 400
assert set(REASONS) == set(get_args(Reason))  # noqa: S101 - one list, two spellings


def _bounded(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("times between 2000 and 2100")
    return value


class MarkIn(BaseModel):
    site: Name
    point: Name
    parameter: Name | None = Field(None, description="alias or HJ 212 code; omit for the point")
    start: AwareDatetime
    end: AwareDatetime
    validity: Literal["invalid", "valid"] = "invalid"
    reason: Reason
    comment: str = Field("", max_length=2000)

    _times = field_validator("start", "end")(_bounded)


class ValueIn(BaseModel):
    ts: AwareDatetime
    value: float = Field(ge=0, le=1e9)

    _times = field_validator("ts")(_bounded)


class CorrectionIn(BaseModel):
    site: Name
    point: Name
    parameter: Name
    values: list[ValueIn] = Field(min_length=1, max_length=store.MAX_SERIES_POINTS)
    start: AwareDatetime | None = Field(None, description="with end: a replacement series")
    end: AwareDatetime | None = None
    reason: Reason
    comment: str = Field("", max_length=2000)

    @field_validator("start", "end")
    @classmethod
    def _in_range(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _bounded(value)


class RevokeIn(BaseModel):
    comment: str = Field("", max_length=2000)


async def _run(state: AppState, work: Callable[[Any], T]) -> T:
    """Run `work(conn)` in a thread; unknown names 404, refused records 400."""
    pool: ConnectionPool[Any] = state.extras[SYNC_POOL]

    def call() -> T:
        with pool.connection() as conn:
            return work(conn)

    try:
        return await asyncio.to_thread(call)
    except (ConfigError, LookupError) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc).strip("'\"")) from exc
    except ValueError as exc:  # AuditError included
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc


def _span(start: date, end: date, most: int = MAX_DAYS) -> None:
    if start >= end:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "from must be before to")
    if (end - start).days > most:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"at most {most} days")


def _one(items: list[dict[str, Any]]) -> dict[str, Any]:
    return items[0]


@router.post("/audit/marks", status_code=201, responses=error_responses(400, 401, 403, 404, 422))
async def post_mark(body: MarkIn, state: State, key: Operator) -> dict[str, Any]:
    """Mark a channel's (or a point's) range invalid or valid, as the key's name."""

    def work(conn: Any) -> dict[str, Any]:
        mark_id = store.create_mark(
            conn,
            store.Target(body.site, body.point, body.parameter),
            start=body.start,
            end=body.end,
            validity=body.validity,
            reason=body.reason,
            comment=body.comment,
            user=key.name,
        )
        return _one(
            [m for m in store.list_marks(conn, store.Scope(site=body.site)) if m["id"] == mark_id]
        )

    return await _run(state, work)


def _scope(  # noqa: PLR0917 - the listing's query parameters, in order
    region: str | None,
    site: str | None,
    point: str | None,
    parameter: str | None,
    start: datetime | None,
    end: datetime | None,
    revoked: bool,
) -> store.Scope:
    return store.Scope(region, site, point, parameter, start, end, revoked)


@router.get("/audit/marks", responses=error_responses(401, 403, 422))
async def get_marks(
    *,
    state: State,
    _key: Operator,
    region: QName = None,
    site: QName = None,
    point: QName = None,
    parameter: QName = None,
    start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    revoked: bool = False,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[dict[str, Any]]:
    """Marks overlapping [from, to) in a region subtree, site, point or channel, newest first."""
    scope = _scope(region, site, point, parameter, start, end, revoked)
    return await _run(state, lambda conn: store.list_marks(conn, scope, limit))


@router.post("/audit/marks/{mark_id}/revoke", responses=error_responses(400, 401, 403, 404, 422))
async def revoke_mark(
    mark_id: Annotated[int, Path(ge=1, le=2**62)], body: RevokeIn, state: State, key: Operator
) -> dict[str, Any]:
    """Take a mark out of force; the record stays, with who revoked it and why."""

    def work(conn: Any) -> dict[str, Any]:
        store.revoke_mark(conn, mark_id, user=key.name, comment=body.comment)
        found = store.list_marks(conn, store.Scope(revoked=True), limit=10000)
        return _one([m for m in found if m["id"] == mark_id])

    return await _run(state, work)


@router.post(
    "/audit/corrections", status_code=201, responses=error_responses(400, 401, 403, 404, 422)
)
async def post_correction(body: CorrectionIn, state: State, key: Operator) -> dict[str, Any]:
    """A corrected value for one reading, or (with start and end) a replacement series."""

    def work(conn: Any) -> dict[str, Any]:
        fix_id = store.create_correction(
            conn,
            store.Target(body.site, body.point, body.parameter),
            points=[(v.ts, v.value) for v in body.values],
            reason=body.reason,
            comment=body.comment,
            user=key.name,
            start=body.start,
            end=body.end,
        )
        found = store.list_corrections(conn, store.Scope(site=body.site))
        return _one([c for c in found if c["id"] == fix_id])

    return await _run(state, work)


@router.get("/audit/corrections", responses=error_responses(401, 403, 422))
async def get_corrections(
    *,
    state: State,
    _key: Operator,
    region: QName = None,
    site: QName = None,
    point: QName = None,
    parameter: QName = None,
    start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    revoked: bool = False,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[dict[str, Any]]:
    """Corrections overlapping [from, to), newest first, each with its values."""
    scope = _scope(region, site, point, parameter, start, end, revoked)
    return await _run(state, lambda conn: store.list_corrections(conn, scope, limit))


@router.post(
    "/audit/corrections/{correction_id}/revoke", responses=error_responses(400, 401, 403, 404, 422)
)
async def revoke_correction(
    *,
    correction_id: Annotated[int, Path(ge=1, le=2**62)],
    body: RevokeIn,
    state: State,
    key: Operator,
) -> dict[str, Any]:
    """Take a correction out of force; the record stays."""

    def work(conn: Any) -> dict[str, Any]:
        store.revoke_correction(conn, correction_id, user=key.name, comment=body.comment)
        found = store.list_corrections(conn, store.Scope(revoked=True), limit=10000)
        return _one([c for c in found if c["id"] == correction_id])

    return await _run(state, work)


@router.get("/audit/history", responses=error_responses(400, 401, 403, 404, 422))
async def get_history(
    *,
    state: State,
    _key: Operator,
    site: Annotated[str, Query(min_length=1, max_length=64)],
    point: Annotated[str, Query(min_length=1, max_length=64)],
    parameter: Annotated[str, Query(min_length=1, max_length=64)],
    start: Annotated[AwareDatetime, Query(alias="from")],
    end: Annotated[AwareDatetime, Query(alias="to")],
) -> dict[str, Any]:
    """Each reading of a channel over [from, to) (at most 31 days): the original, the value and
    flag statistics use, and the marks and corrections (revoked ones too) over the range."""
    if not EARLIEST <= start < end <= LATEST or end - start > timedelta(days=31):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "from < to, at most 31 days")
    target = store.Target(site, point, parameter)
    return await _run(
        state, lambda conn: store.reading_history(conn, target, start, end, DEFAULT_SETTINGS)
    )


@router.get("/audit/trace", responses=error_responses(400, 401, 403, 404, 422))
async def get_trace(
    state: State,
    _key: Operator,
    site: Annotated[str, Query(min_length=1, max_length=64)],
    start: Annotated[Day, Query(alias="from")],
    end: Annotated[Day, Query(alias="to")],
) -> dict[str, Any]:
    """The balance figures of a site's local days [from, to) that marks or corrections changed,
    with those records: how every figure of the balance traces back to the audit."""
    _span(start, end)
    return await _run(state, lambda conn: balance_trace(conn, site, start, end))


@router.get("/validity", responses=error_responses(400, 401, 403, 404, 422))
async def get_validity(
    *,
    state: State,
    key: Caller,
    start: Annotated[Day, Query(alias="from")],
    end: Annotated[Day, Query(alias="to")],
    site: QName = None,
    region: QName = None,
    granularity: Literal["day", "month", "year"] | None = None,
) -> dict[str, Any]:
    """Expected, received, valid, invalid and shutdown hours per channel and period, with the
    transmission and valid-data rates and the causes (docs/audit.md §4)."""
    if (site is None) == (region is None):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "give site or region")
    if site is not None:
        ensure_readable(key, site)
    elif key.role == "gateway":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "gateway keys may not read regions")
    _span(start, end, 3700 if granularity in ("month", "year", None) else MAX_DAYS)
    level = Granularity(granularity) if granularity else None

    def work(conn: Any) -> dict[str, Any]:
        _exists(conn, site, region)
        return validity_report(
            conn, site=site, region=region, start=start, end=end, granularity=level
        )

    return await _run(state, work)


def _exists(conn: Any, site: str | None, region: str | None) -> None:
    table, code = ("site", site) if site is not None else ("region", region)
    if conn.execute(f"SELECT 1 FROM {table} WHERE code = %s", (code,)).fetchone() is None:
        raise ConfigError(f"unknown {table} {code!r}")


@router.get(
    "/compliance",
    responses=error_responses(400, 401, 403, 404, 422)
    | {
        200: {
            "content": {
                "application/json": {},
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        }
    },
)
async def get_compliance(
    state: State,
    _key: Operator,
    region: QName = None,
    day: Annotated[Day | None, Query(alias="date")] = None,
    format: Literal["json", "csv", "xlsx"] = "json",  # noqa: A002 - the query's name
) -> Any:
    """Every facility of a region subtree (or all) and what the monitoring policy finds missing
    on a local day (default: yesterday): a point, a meter, data since when, transmission."""
    checked = day or (datetime.now(UTC).date() - timedelta(days=1))
    rule = rule_from(state.settings)

    def work(conn: Any) -> list[Facility]:
        return check_coverage(conn, region=region, day=checked, rule=rule)

    facilities = await _run(state, work)
    if format == "json":
        return report_of(facilities, region, checked, rule)
    name = f"compliance-{region or 'all'}-{checked.isoformat()}"
    return _download(coverage_rows(facilities), COVERAGE_COLUMNS, name, format)


def _download(
    rows: list[dict[str, Any]], columns: tuple[str, ...], name: str, kind: str
) -> Response:
    if kind == "csv":
        body, media = csv_bytes(rows, columns), "text/csv; charset=utf-8"
    else:
        body = xlsx_bytes({"list": (columns, rows)})
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = f'attachment; filename="{name}.{kind}"'
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


@router.get(
    "/reports/daily/{site}",
    responses=error_responses(400, 401, 403, 404, 422)
    | {
        200: {
            "content": {
                "application/json": {},
                "text/csv": {},
                "text/html": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        }
    },
)
async def get_daily_report(
    state: State,
    key: Caller,
    site: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")],
    day: Annotated[Day, Query(alias="date")],
    format: Literal["json", "csv", "xlsx", "html"] = "json",  # noqa: A002
) -> Any:
    """The daily report (日报) of a plant or enterprise for a local day."""
    ensure_readable(key, site)
    report = await _run(state, lambda conn: daily_report(conn, site, day))
    if format == "json":
        return report
    name = f"daily-{site}-{day.isoformat()}.{format}"
    body, media = {
        "csv": (report_csv, "text/csv; charset=utf-8"),
        "xlsx": (report_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        "html": (report_html, "text/html; charset=utf-8"),
    }[format]
    headers = {} if format == "html" else {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body(report), media_type=media, headers=headers)
