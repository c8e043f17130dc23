"""`GET /api/v1/sites`, `/sites/{code}` and `/regions`: the registry with the latest readings.

A logger's connection state is derived from when its readings last arrived (`received_at`):
the HJ 212 sessions live in the ingest process, which the API (a separate process, ADR 0001)
cannot see, while arrival times are in the database for every source alike.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, status
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from wqmon.api.deps import Caller, State, ensure_readable, readable_sites
from wqmon.api.errors import error_responses
from wqmon.parameters import lookup

router = APIRouter(tags=["sites"])

ONLINE_WITHIN = timedelta(minutes=15)  # loggers send real-time data every 30 s to 10 min
DELAYED_WITHIN = timedelta(hours=2)  # beyond this a logger is treated as offline
ConnectionState = Literal["online", "delayed", "offline", "never"]
SiteCode = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


class RegionOut(BaseModel):
    """An accounting region of the registry."""

    code: str
    name: str
    kind: Literal["county", "park", "city", "province"]
    parent: str | None


class SiteOut(BaseModel):
    """A site of the registry."""

    code: str
    name: str
    kind: Literal["wwtp", "enterprise"]
    region: str
    capacity_m3_per_day: float | None
    timezone: str


class LatestOut(BaseModel):
    """The newest reading of a channel."""

    ts: datetime
    value: float
    flag: str = Field(description="HJ 212 data flag (N normal, D fault, M maintenance, …)")
    source: str
    received_at: datetime


class ChannelOut(BaseModel):
    """One monitored parameter of a point, its limits and its newest reading."""

    parameter: str = Field(description="HJ 212-2017 code, e.g. w01018 (COD)")
    alias: str
    name: str
    name_zh: str
    unit: str
    limit_value: float | None
    limit_min: float | None
    limit_source: str | None
    latest: LatestOut | None


class ConnectionOut(BaseModel):
    """Whether data from the point's logger or gateway is arriving."""

    state: ConnectionState
    last_received_at: datetime | None
    source: str | None


class PointOut(BaseModel):
    """A monitoring point (inlet, outlet or discharge) with its channels."""

    code: str
    name: str | None
    role: Literal["inlet", "outlet", "discharge"]
    discharges_to: str | None
    hj212_mn: str | None
    connection: ConnectionOut
    channels: list[ChannelOut]


class SiteDetailOut(SiteOut):
    """A site with its points, channels, limits and latest readings."""

    points: list[PointOut]
    checked_at: datetime


_SITES = (
    "SELECT code, name, kind, region_code AS region, capacity_m3_per_day, timezone "
    "FROM site WHERE active AND (%(all)s OR code = ANY(%(codes)s)) ORDER BY code"
)

_CHANNELS = """
SELECT p.code AS point, p.name AS point_name, p.role, p.discharges_to, p.hj212_mn,
       c.parameter, c.unit, c.limit_value, c.limit_min, c.limit_source,
       r.ts, r.value, r.flag, r.source, r.received_at
FROM site s
JOIN point p ON p.site_id = s.id
LEFT JOIN channel c ON c.point_id = p.id AND c.active
LEFT JOIN LATERAL (
    SELECT ts, value, flag, source, received_at FROM reading
    WHERE channel_id = c.id ORDER BY ts DESC LIMIT 1
) r ON true
WHERE s.code = %s
ORDER BY p.code, c.parameter
"""


@router.get("/regions", response_model=list[RegionOut], responses=error_responses(401, 403))
async def list_regions(state: State, key: Caller) -> list[RegionOut]:
    """Accounting regions (city, counties, parks), parents before children by code.

    Not for gateway keys (a gateway sees its own sites only); an accounting key (county, city,
    province) sees its regions and their subtrees (docs/api.md, roles).
    """
    if key.role == "gateway":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "gateway keys may not read regions")
    codes = sorted(key.regions) if key.accounting else None
    async with state.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT code, name, kind, parent_code AS parent FROM region "
            "WHERE %(codes)s::text[] IS NULL OR code = ANY(%(codes)s) ORDER BY code",
            {"codes": codes},
        )
        return [RegionOut(**row) for row in await cur.fetchall()]


@router.get("/sites", response_model=list[SiteOut], responses=error_responses(401))
async def list_sites(state: State, key: Caller) -> list[SiteOut]:
    """Active sites; a gateway key sees only its own."""
    allowed = readable_sites(key)
    params = {"all": allowed is None, "codes": sorted(allowed or ())}
    async with state.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SITES, params)
        return [SiteOut(**row) for row in await cur.fetchall()]


@router.get(
    "/sites/{code}", response_model=SiteDetailOut, responses=error_responses(401, 403, 404, 422)
)
async def get_site(state: State, key: Caller, code: SiteCode) -> SiteDetailOut:
    """A site's points, channels, limits, latest readings and logger connection states."""
    ensure_readable(key, code)
    async with state.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SITES, {"all": False, "codes": [code]})
        site = await cur.fetchone()
        if site is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {code!r}")
        await cur.execute(_CHANNELS, (code,))
        rows = await cur.fetchall()
    now = datetime.now(UTC)
    return SiteDetailOut(**site, points=_points(rows, now), checked_at=now)


def _points(rows: list[dict[str, Any]], now: datetime) -> list[PointOut]:
    points: dict[str, PointOut] = {}
    for row in rows:
        point = points.get(row["point"])
        if point is None:
            point = points[row["point"]] = PointOut(
                code=row["point"],
                name=row["point_name"],
                role=row["role"],
                discharges_to=row["discharges_to"],
                hj212_mn=row["hj212_mn"],
                connection=ConnectionOut(state="never", last_received_at=None, source=None),
                channels=[],
            )
        if row["parameter"] is not None:
            point.channels.append(_channel(row))
    for point in points.values():
        point.connection = _connection(point.channels, now)
    return list(points.values())


def _channel(row: dict[str, Any]) -> ChannelOut:
    known = lookup(row["parameter"])
    latest = None
    if row["ts"] is not None:
        latest = LatestOut(
            ts=row["ts"],
            value=row["value"],
            flag=row["flag"],
            source=row["source"],
            received_at=row["received_at"],
        )
    return ChannelOut(
        parameter=row["parameter"],
        alias=known.alias if known else row["parameter"],
        name=known.name if known else row["parameter"],
        name_zh=known.name_zh if known else row["parameter"],
        unit=row["unit"],
        limit_value=row["limit_value"],
        limit_min=row["limit_min"],
        limit_source=row["limit_source"],
        latest=latest,
    )


def _connection(channels: list[ChannelOut], now: datetime) -> ConnectionOut:
    arrived = [c.latest for c in channels if c.latest is not None]
    if not arrived:
        return ConnectionOut(state="never", last_received_at=None, source=None)
    last = max(arrived, key=lambda latest: latest.received_at)
    age = now - last.received_at
    state: ConnectionState = (
        "online" if age <= ONLINE_WITHIN else "delayed" if age <= DELAYED_WITHIN else "offline"
    )
    return ConnectionOut(state=state, last_received_at=last.received_at, source=last.source)
