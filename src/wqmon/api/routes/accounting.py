"""`/api/v1/accounting/...`: the annual accounting cycle (docs/accounting.md).

County keys open and fill their regions' accounts and submit them; city keys review their
counties' accounts, set deadlines and make the assessment report; province keys record findings
on it; operator and admin keys read everything and change nothing. Gateway keys get 403. The
cycle's code is synchronous psycopg (shared with the reports), run in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field

from wqmon.accounting import accounts, reports, results
from wqmon.accounting.actor import Actor
from wqmon.accounting.config import AccountingConfig, config_from
from wqmon.accounting.errors import AccountingError
from wqmon.accounting.events import trail
from wqmon.accounting.export import to_html, to_pdf, to_xlsx
from wqmon.accounting.inputs import InputKind
from wqmon.api.deps import AppState, Caller, State
from wqmon.api.errors import error_responses
from wqmon.api.keys import ApiKey
from wqmon.api.routes.balance import SYNC_POOL, Code
from wqmon.errors import ConfigError

router = APIRouter(prefix="/accounting", tags=["accounting"])
T = TypeVar("T")
Year = Annotated[int, Path(ge=2000, le=2099, description="the calendar year accounted")]
YearQ = Annotated[int, Query(ge=2000, le=2099, description="the calendar year accounted")]
Json = dict[str, Any]
ERRORS = error_responses(400, 401, 403, 404, 409, 422)
Text = Annotated[str, Field(min_length=1, max_length=4000)]


def actor_of(key: ApiKey) -> Actor:
    """The caller as the cycle sees it; gateways take no part (403)."""
    if key.role == "gateway":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "gateway keys take no part in accounting")
    return Actor(key.name, key.role, key.regions if key.accounting else None, key.id)


def _config(state: AppState) -> AccountingConfig:
    s = state.settings
    return config_from(s.accounting_deadline, s.accounting_min_coverage)


async def run_sync(state: AppState, work: Callable[[Any], T]) -> T:
    """Run `work(conn)` in a thread; the cycle's refusals keep their status."""
    pool: ConnectionPool[Any] = state.extras[SYNC_POOL]

    def call() -> T:
        with pool.connection() as conn:
            return work(conn)

    try:
        return await asyncio.to_thread(call)
    except AccountingError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    except ConfigError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc


class InputIn(BaseModel):
    """A department input: the value, its source department, document reference and date."""

    value: float = Field(ge=0, le=1e10)
    source_department: Text
    document_ref: Text
    document_date: date
    note: str = Field("", max_length=4000)


class CommentIn(BaseModel):
    figure: str | None = Field(None, max_length=64, description="figure or input key; none: all")
    comment: Text


class ReturnIn(BaseModel):
    comments: list[CommentIn] = Field(min_length=1, max_length=100)


class ApproveIn(BaseModel):
    comments: list[CommentIn] = Field(default_factory=list, max_length=100)


class ReopenIn(BaseModel):
    reason: Text


class DeadlineIn(BaseModel):
    due_on: date


class FindingIn(BaseModel):
    finding: Text
    region: str | None = Field(None, max_length=64)
    figure: str | None = Field(None, max_length=64)


class RectificationIn(BaseModel):
    measures: Text
    responsible_unit: Text
    deadline: date
    status: Literal["planned", "in_progress", "done"]


class WorkIn(BaseModel):
    year: int = Field(ge=2000, le=2099)
    name: Text
    kind: Literal["sewer_network", "treatment_plant", "treatment_upgrade", "other"]
    capacity_m3_per_day: float | None = Field(None, gt=0, le=1e8)
    length_km: float | None = Field(None, gt=0, le=1e5)
    planned_completion: date
    actual_completion: date | None = None


def _comments(items: list[CommentIn]) -> list[accounts.Comment]:
    return [accounts.Comment(c.figure, c.comment) for c in items]


# --- accounts ------------------------------------------------------------------------------


@router.get("/me", responses=ERRORS)
async def me(*, key: Caller) -> Json:
    """The caller as the cycle sees it: name, role and the regions it acts for (all: null)."""
    actor = actor_of(key)
    regions = sorted(actor.regions) if actor.regions is not None else None
    return {"name": actor.name, "role": actor.role, "regions": regions}


@router.get("/accounts", responses=ERRORS)
async def list_accounts(*, state: State, key: Caller, year: YearQ) -> list[Json]:
    """Every county and park account the key may see for the year (a city's review list):
    state, newest version, deadline, late (first submitted after it) or overdue."""
    actor, config = actor_of(key), _config(state)
    return await run_sync(state, lambda conn: accounts.review_list(conn, actor, year, config))


@router.get("/accounts/{region}/{year}", responses=ERRORS)
async def get_account(*, state: State, key: Caller, region: Code, year: Year) -> Json:
    """A region-year account: live figures, the newest frozen version and the difference
    between them, inputs with their history, versions, comments and the audit trail."""
    actor, config = actor_of(key), _config(state)
    return await run_sync(
        state, lambda conn: accounts.account_view(conn, actor, region, year, config)
    )


@router.post("/accounts/{region}/{year}", status_code=201, responses=ERRORS)
async def open_account(*, state: State, key: Caller, region: Code, year: Year) -> Json:
    """Open the account as a draft (county keys, for their regions)."""
    actor, config = actor_of(key), _config(state)

    def work(conn: Any) -> Json:
        accounts.open_account(conn, actor, region, year)
        return accounts.account_view(conn, actor, region, year, config)

    return await run_sync(state, work)


@router.put("/accounts/{region}/{year}/inputs/{kind}", responses=ERRORS)
async def put_input(
    *, state: State, key: Caller, region: Code, year: Year, kind: InputKind, body: InputIn
) -> Json:
    """Enter or replace a department input of a draft or returned account (county keys)."""
    actor, config = actor_of(key), _config(state)
    entry = accounts.InputEntry(
        kind, body.value, body.source_department, body.document_ref, body.document_date, body.note
    )

    def work(conn: Any) -> Json:
        accounts.set_input(conn, actor, region, year, entry)
        return accounts.account_view(conn, actor, region, year, config)

    return await run_sync(state, work)


@router.post("/accounts/{region}/{year}/submit", responses=ERRORS)
async def submit(*, state: State, key: Caller, region: Code, year: Year) -> Json:
    """Freeze the account as a new version and submit it (county keys)."""
    actor, config = actor_of(key), _config(state)
    version = await run_sync(state, lambda conn: accounts.submit(conn, actor, region, year, config))
    return {"region": region, "year": year, "version": version, "state": "submitted"}


@router.post("/accounts/{region}/{year}/return", responses=ERRORS)
async def return_account(
    *, state: State, key: Caller, region: Code, year: Year, body: ReturnIn
) -> Json:
    """Return the submitted version with comments per figure (city keys)."""
    actor, comments = actor_of(key), _comments(body.comments)
    version = await run_sync(
        state, lambda conn: accounts.return_account(conn, actor, region, year, comments)
    )
    return {"region": region, "year": year, "version": version, "state": "returned"}


@router.post("/accounts/{region}/{year}/approve", responses=ERRORS)
async def approve(
    *, state: State, key: Caller, region: Code, year: Year, body: ApproveIn | None = None
) -> Json:
    """Approve the submitted version (city keys)."""
    actor = actor_of(key)
    comments = _comments(body.comments) if body else []
    version = await run_sync(
        state, lambda conn: accounts.approve(conn, actor, region, year, comments)
    )
    return {"region": region, "year": year, "version": version, "state": "approved"}


@router.post("/accounts/{region}/{year}/reopen", responses=ERRORS)
async def reopen(*, state: State, key: Caller, region: Code, year: Year, body: ReopenIn) -> Json:
    """Take an approved account back to draft to correct it (county keys)."""
    actor = actor_of(key)
    await run_sync(state, lambda conn: accounts.reopen(conn, actor, region, year, body.reason))
    return {"region": region, "year": year, "state": "draft"}


@router.get("/accounts/{region}/{year}/versions/{version}", responses=ERRORS)
async def get_version(
    *,
    state: State,
    key: Caller,
    region: Code,
    year: Year,
    version: Annotated[int, Path(ge=1, le=10000)],
) -> Json:
    """A frozen version of an account, as it was submitted."""
    actor = actor_of(key)

    def work(conn: Any) -> Json:
        actor.require_read(region)
        return accounts.version_snapshot(conn, region, year, version)

    return await run_sync(state, work)


@router.put("/deadlines/{city}/{year}", responses=ERRORS)
async def put_deadline(
    *, state: State, key: Caller, city: Code, year: Year, body: DeadlineIn
) -> Json:
    """Set the deadline of the city's county accounts for a year (city keys)."""
    actor = actor_of(key)
    await run_sync(state, lambda conn: accounts.set_deadline(conn, actor, city, year, body.due_on))
    return {"region": city, "year": year, "due_on": body.due_on.isoformat()}


@router.get("/events", responses=ERRORS)
async def get_events(
    *, state: State, key: Caller, region: Annotated[str, Query(max_length=64)], year: YearQ
) -> list[Json]:
    """The audit trail of a region-year: every step, who, when and what changed."""
    actor = actor_of(key)

    def work(conn: Any) -> list[Json]:
        actor.require_read(region)
        return trail(conn, region, year)

    return await run_sync(state, work)


# --- reports -------------------------------------------------------------------------------


@router.get("/reports/{city}/{year}", responses=ERRORS)
async def get_report(*, state: State, key: Caller, city: Code, year: Year) -> Json:
    """The city's report: its versions, the newest with findings, and whether a new one can be
    made now (every county and park approved) with a preview of it."""
    actor, config = actor_of(key), _config(state)
    return await run_sync(state, lambda conn: reports.report_view(conn, actor, city, year, config))


@router.post("/reports/{city}/{year}", status_code=201, responses=ERRORS)
async def make_report(*, state: State, key: Caller, city: Code, year: Year) -> Json:
    """Make and freeze the next version of the assessment report (city keys; 409 until every
    account is approved)."""
    actor, config = actor_of(key), _config(state)
    version = await run_sync(
        state, lambda conn: reports.compile_report(conn, actor, city, year, config)
    )
    return {"region": city, "year": year, "version": version}


_MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}


@router.get(
    "/reports/{city}/{year}/{version}/{fmt}",
    responses=ERRORS | error_responses(503),
    response_class=Response,
)
async def export_report(
    *,
    state: State,
    key: Caller,
    city: Code,
    year: Year,
    version: Annotated[int, Path(ge=1, le=10000)],
    fmt: Literal["xlsx", "html", "pdf"],
) -> Response:
    """A version of the report as XLSX, printable HTML or PDF (printed by headless Chromium;
    503 where it is not installed)."""
    actor = actor_of(key)
    chromium = state.settings.accounting_chromium

    def work(conn: Any) -> bytes:
        actor.require_read(city)
        snapshot = reports.report_snapshot(conn, city, year, version)
        if fmt == "xlsx":
            return to_xlsx(snapshot)
        if fmt == "html":
            return to_html(snapshot).encode()
        return to_pdf(to_html(snapshot), chromium)

    body = await run_sync(state, work)
    name = f"assessment-{city}-{year}-v{version}.{fmt}"
    disposition = "inline" if fmt == "html" else f'attachment; filename="{name}"'
    return Response(body, media_type=_MEDIA[fmt], headers={"Content-Disposition": disposition})


@router.post("/reports/{city}/{year}/{version}/findings", status_code=201, responses=ERRORS)
async def post_finding(
    *,
    state: State,
    key: Caller,
    city: Code,
    year: Year,
    version: Annotated[int, Path(ge=1, le=10000)],
    body: FindingIn,
) -> Json:
    """Record a province finding against a version of the report (province keys)."""
    actor = actor_of(key)
    finding_id = await run_sync(
        state,
        lambda conn: reports.record_finding(
            conn,
            actor,
            city,
            year,
            version,
            finding=body.finding,
            about_region=body.region,
            figure=body.figure,
        ),
    )
    return {"id": finding_id, "region": city, "year": year, "version": version}


# --- results applied -----------------------------------------------------------------------


@router.get("/results/{region}/{year}", responses=ERRORS)
async def get_results(*, state: State, key: Caller, region: Code, year: Year) -> Json:
    """Action category with its deciding figures, plants under 260 mg/L with their plans and
    influent trend, the region's works, and the targets against its history."""
    actor, config = actor_of(key), _config(state)
    return await run_sync(state, lambda conn: results.results(conn, actor, region, year, config))


@router.put("/rectifications/{site}/{year}", responses=ERRORS)
async def put_rectification(
    *, state: State, key: Caller, site: Code, year: Year, body: RectificationIn
) -> Json:
    """Record or update a plant's rectification plan for a year (county keys)."""
    actor = actor_of(key)
    plan = results.Rectification(body.measures, body.responsible_unit, body.deadline, body.status)
    await run_sync(state, lambda conn: results.set_rectification(conn, actor, site, year, plan))
    return {"site": site, "year": year} | body.model_dump(mode="json")


def _work(body: WorkIn) -> results.Work:
    return results.Work(
        body.year,
        body.name,
        body.kind,
        body.planned_completion,
        body.capacity_m3_per_day,
        body.length_km,
        body.actual_completion,
    )


@router.post("/works/{region}", status_code=201, responses=ERRORS)
async def post_work(*, state: State, key: Caller, region: Code, body: WorkIn) -> Json:
    """Add a work to the region's plan (county keys)."""
    actor = actor_of(key)
    work_id = await run_sync(state, lambda conn: results.add_work(conn, actor, region, _work(body)))
    return {"id": work_id, "region": region} | body.model_dump(mode="json")


@router.put("/works/{work_id}", responses=ERRORS)
async def put_work(
    *, state: State, key: Caller, work_id: Annotated[int, Path(ge=1, le=2**31 - 1)], body: WorkIn
) -> Json:
    """Change a work of the plan, e.g. enter its actual completion (county keys)."""
    actor = actor_of(key)
    await run_sync(state, lambda conn: results.update_work(conn, actor, work_id, _work(body)))
    return {"id": work_id} | body.model_dump(mode="json")
