"""`GET /api/v1/balance/plants/{site}` and `GET /api/v1/balance/regions/{region}`.

The balance engine (`wqmon.balance.queries`) is synchronous psycopg code shared with the reports,
so it runs in a worker thread on a connection of the app's synchronous pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, status
from psycopg_pool import ConnectionPool

from wqmon.api.deps import AppState, Caller, State, ensure_readable, ensure_region
from wqmon.api.errors import error_responses
from wqmon.api.routes.balance_models import PlantBalanceOut, RegionBalanceOut
from wqmon.balance.accounts import Granularity
from wqmon.balance.queries import plant_balance, region_balance
from wqmon.errors import ConfigError

router = APIRouter(prefix="/balance", tags=["balance"])

T = TypeVar("T")
EARLIEST = date(2000, 1, 1)  # accounts before online monitoring existed make no sense
LATEST = date(2100, 1, 1)
MAX_SPAN_DAYS = {"hour": 93, "day": 400, "month": 3700, "year": 36600}
SYNC_POOL = "sync_pool"
Code = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
From = Annotated[
    date | None, Query(alias="from", ge=EARLIEST, le=LATEST, description="first local day")
]
To = Annotated[
    date | None, Query(alias="to", ge=EARLIEST, le=LATEST, description="day after the last")
]


async def _run(state: AppState, work: Callable[[Any], T]) -> T:
    """Run `work(conn)` in a thread; unknown codes become 404, contradictions 400."""
    pool: ConnectionPool[Any] = state.extras[SYNC_POOL]

    def call() -> T:
        with pool.connection() as conn:
            return work(conn)

    try:
        return await asyncio.to_thread(call)
    except ConfigError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc


def _span(start: date | None, end: date | None, granularity: str) -> tuple[date, date]:
    """[from, to) with defaults: to = tomorrow (UTC), from = to − 7 days."""
    hi = end or min(datetime.now(UTC).date() + timedelta(days=1), LATEST)
    lo = start or max(hi - timedelta(days=7), EARLIEST)
    if lo >= hi:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "from must be before to")
    if (hi - lo).days > MAX_SPAN_DAYS[granularity]:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"at most {MAX_SPAN_DAYS[granularity]} days at granularity {granularity}",
        )
    return lo, hi


@router.get(
    "/plants/{site}",
    response_model=PlantBalanceOut,
    responses=error_responses(400, 401, 403, 404, 422),
)
async def get_plant_balance(
    *,
    state: State,
    key: Caller,
    site: Code,
    start: From = None,
    end: To = None,
    granularity: Literal["hour", "day", "month", "year"] = "day",
) -> dict[str, object]:
    """A plant's COD account per hour, day, month or year over the local days [from, to)."""
    ensure_readable(key, site)
    lo, hi = _span(start, end, granularity)
    return await _run(state, lambda conn: plant_balance(conn, site, lo, hi, granularity))


@router.get(
    "/regions/{region}",
    response_model=RegionBalanceOut,
    responses=error_responses(400, 401, 403, 404, 422),
)
async def get_region_balance(
    *,
    state: State,
    key: Caller,
    region: Code,
    year: Annotated[int | None, Query(ge=EARLIEST.year, lt=LATEST.year)] = None,
    start: From = None,
    end: To = None,
    granularity: Literal["day", "month", "year"] | None = None,
) -> dict[str, object]:
    """A region's collection and reduction account for a year, or for [from, to).

    Without any of `year`, `from`, `to`, the current year. With `granularity`, `periods` has one
    entry per day, month or year; otherwise one for the whole span.
    """
    ensure_region(key, region)
    if year is None and start is None and end is None:
        year = datetime.now(UTC).year
    if year is None:
        start, end = _span(start, end, granularity or "year")
    elif start is not None or end is not None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "give either year, or from and to")
    level = Granularity(granularity) if granularity else None
    return await _run(
        state,
        lambda conn: region_balance(
            conn, region, year=year, start=start, end=end, granularity=level
        ),
    )
