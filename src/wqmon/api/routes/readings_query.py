"""`GET /api/v1/readings`: a site's readings over a time range, raw or aggregated into buckets.

Buckets use TimescaleDB's `time_bucket` when the extension is there and PostgreSQL's `date_bin`
otherwise; both align buckets of up to a day on UTC midnight, so the two modes give the same rows.

A value with an invalid flag (`B` link down, `D` fault, `C` calibration, …) measured nothing of
the water: it is `null` in a raw series and left out of a bucket's mean, min, max and count, so
charts draw it as a gap; the flags still say why (docs/api.md, "Readings").
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from wqmon.api.deps import Caller, State, ensure_readable, has_time_bucket
from wqmon.api.errors import error_responses
from wqmon.flags import DEFAULT_VALID_FLAGS
from wqmon.parameters import lookup

router = APIRouter(tags=["readings"])

DEFAULT_SPAN = timedelta(hours=24)
MAX_ROWS = 100_000
BUCKET_PATTERN = r"^([1-9][0-9]{0,4})(s|m|h|d)$"
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_BUCKET = timedelta(days=31)


class SamplePoint(BaseModel):
    """A raw reading, or one bucket's aggregate (then `min`, `max` and `count` are set)."""

    ts: datetime = Field(description="reading time, or the bucket's start (UTC)")
    value: float | None = Field(
        description="the reading, or the mean of the bucket's valid readings; null (a gap) "
        "when the flag is invalid or the bucket has no valid reading"
    )
    flag: str = Field(description="the reading's flag, or the bucket's distinct flags")
    min: float | None = None
    max: float | None = None
    count: int | None = Field(None, description="valid readings in the bucket")
    late: bool = Field(
        False,
        description="HJ 212-2025 RF=1: re-sent late (for a bucket: any reading in it was)",
    )


class SeriesOut(BaseModel):
    """The readings of one channel (point and parameter)."""

    point: str
    parameter: str
    alias: str
    unit: str
    points: list[SamplePoint]


class ReadingsOut(BaseModel):
    """Readings of a site over [from, to)."""

    site: str
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    bucket: str | None
    truncated: bool = Field(description="true when `limit` cut the result short")
    series: list[SeriesOut]


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name}: give a UTC offset (e.g. Z)"
        )
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name}: {exc}") from exc


def _range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """[from, to) with defaults: to = now, from = to − 24 h."""
    try:
        hi = end or datetime.now(UTC)
        lo = start or hi - DEFAULT_SPAN
    except OverflowError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "from: out of range") from exc
    if lo >= hi:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "from must be before to")
    return lo, hi


def _bucket_seconds(bucket: str) -> int:
    match = re.fullmatch(BUCKET_PATTERN, bucket)
    if match is None:  # the Query pattern already refused it; this keeps mypy and us honest
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "bad bucket")
    seconds = int(match[1]) * _UNIT_SECONDS[match[2]]
    if seconds > MAX_BUCKET.total_seconds():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "bucket: at most 31d")
    return seconds


_CHANNELS = """
SELECT c.id, p.code, c.parameter, c.unit
FROM channel c JOIN point p ON p.id = c.point_id JOIN site s ON s.id = p.site_id
WHERE s.code = %(site)s AND s.active
  AND (%(point)s::text IS NULL OR p.code = %(point)s)
  AND (%(parameter)s::text IS NULL OR c.parameter = %(parameter)s)
ORDER BY p.code, c.parameter
"""

_LATE = "(source = 'hj212-late')"
_LATE_FILTER = f"AND (%(late)s::boolean IS NULL OR {_LATE} = %(late)s)"
_RAW = f"""
SELECT channel_id, ts, CASE WHEN flag = ANY(%(valid)s) THEN value END, flag,
       NULL::float8, NULL::float8, NULL::bigint, {_LATE}
FROM reading WHERE channel_id = ANY(%(ids)s) AND ts >= %(lo)s AND ts < %(hi)s {_LATE_FILTER}
ORDER BY channel_id, ts LIMIT %(limit)s
"""

_BUCKETED = f"""
SELECT channel_id, {{bucket}} AS b, avg(value) FILTER (WHERE flag = ANY(%(valid)s)),
       string_agg(DISTINCT flag, ''), min(value) FILTER (WHERE flag = ANY(%(valid)s)),
       max(value) FILTER (WHERE flag = ANY(%(valid)s)), count(*) FILTER (WHERE flag = ANY(%(valid)s)),
       bool_or{_LATE}
FROM reading WHERE channel_id = ANY(%(ids)s) AND ts >= %(lo)s AND ts < %(hi)s {_LATE_FILTER}
GROUP BY channel_id, b ORDER BY channel_id, b LIMIT %(limit)s
"""
_TIME_BUCKET = "time_bucket(make_interval(secs => %(secs)s), ts)"
_DATE_BIN = "date_bin(make_interval(secs => %(secs)s), ts, TIMESTAMPTZ '2000-01-01 00:00:00+00')"


@router.get(
    "/readings", response_model=ReadingsOut, responses=error_responses(400, 401, 403, 404, 422)
)
async def get_readings(
    *,
    state: State,
    key: Caller,
    site: Annotated[str, Query(min_length=1, max_length=64)],
    point: Annotated[str | None, Query(max_length=64)] = None,
    parameter: Annotated[
        str | None, Query(max_length=32, description="alias (cod) or HJ 212 code (w01018)")
    ] = None,
    start: Annotated[datetime | None, Query(alias="from", description="default: to − 24 h")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="default: now")] = None,
    bucket: Annotated[
        str | None, Query(pattern=BUCKET_PATTERN, description="e.g. 5m, 1h, 1d; raw when absent")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 10_000,
    late: Annotated[
        bool | None, Query(description="true: only late (RF=1) readings; false: none of them")
    ] = None,
) -> ReadingsOut:
    """Readings of a site (optionally one point and parameter) over [from, to)."""
    ensure_readable(key, site)
    lo, hi = _range(_aware(start, "from"), _aware(end, "to"))
    code = None
    if parameter is not None:
        known = lookup(parameter)
        if known is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown parameter {parameter!r}"
            )
        code = known.code
    args: dict[str, Any] = {"site": site, "point": point, "parameter": code}
    args |= {"lo": lo, "hi": hi, "limit": limit, "valid": sorted(DEFAULT_VALID_FLAGS), "late": late}
    if bucket is not None:
        args["secs"] = _bucket_seconds(bucket)
        sql = _BUCKETED.format(bucket=_TIME_BUCKET if await has_time_bucket(state) else _DATE_BIN)
    else:
        sql = _RAW
    async with state.pool.connection() as conn:
        channels = await (await conn.execute(_CHANNELS, args)).fetchall()
        if not channels:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such site, point or parameter")
        args["ids"] = [c[0] for c in channels]
        rows = await (await conn.execute(sql, args)).fetchall()
    return ReadingsOut(
        site=site,
        start=lo,
        end=hi,
        bucket=bucket,
        truncated=len(rows) >= limit,
        series=_series(channels, rows),
    )


def _series(channels: list[tuple[Any, ...]], rows: list[tuple[Any, ...]]) -> list[SeriesOut]:
    by_id: dict[int, SeriesOut] = {}
    for cid, point, parameter, unit in channels:
        known = lookup(parameter)
        alias = known.alias if known else parameter
        by_id[cid] = SeriesOut(point=point, parameter=parameter, alias=alias, unit=unit, points=[])
    for cid, ts, value, flag, low, high, count, late in rows:
        by_id[cid].points.append(
            SamplePoint(ts=ts, value=value, flag=flag, min=low, max=high, count=count, late=late)
        )
    return list(by_id.values())
