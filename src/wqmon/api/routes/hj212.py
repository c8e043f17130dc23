"""`/api/v1/hj212/...`: what the HJ 212 server knows beyond readings (docs/hj212.md, docs/api.md).

- `loggers`: per MN the edition it last spoke (2005/2017/2025), whether encrypted and with which
  key id, when last heard and last heartbeat, and whether it counts as online. Operators, admins.
- `devices`: loggers that announced themselves with CN 1001, pending or activated. Admins only.
- `standard-checks`: CN 2062 standard-sample check results of a site, per channel.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from wqmon.api.deps import Caller, State, ensure_readable, require_role
from wqmon.api.errors import error_responses
from wqmon.api.keys import ApiKey

router = APIRouter(tags=["hj212"])
Operator = Annotated[ApiKey, require_role("operator", "admin")]
Admin = Annotated[ApiKey, require_role("admin")]


class LoggerOut(BaseModel):
    mn: str
    site: str | None
    point: str | None
    version: str
    encrypted: bool
    key_id: str | None
    peer: str
    last_seen_at: datetime
    last_heartbeat_at: datetime | None
    online: bool


class DeviceOut(BaseModel):
    hardware_id: str
    cpu_id: str | None
    mac1: str | None
    mac2: str | None
    reported_mn: str | None
    peer: str
    state: str
    mn: str | None
    site: str | None
    point: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    assigned_at: datetime | None
    activated_at: datetime | None


class CheckOut(BaseModel):
    point: str
    parameter: str
    ts: datetime
    measured: float | None
    standard: float | None
    passed: bool | None
    result_type: str | None
    late: bool
    received_at: datetime


_LOGGERS = """
SELECT l.mn, s.code, p.code, l.version, l.encrypted, l.key_id, l.peer, l.last_seen_at,
       l.last_heartbeat_at
FROM hj212_logger l LEFT JOIN point p ON p.hj212_mn = l.mn LEFT JOIN site s ON s.id = p.site_id
ORDER BY l.mn
"""
_DEVICES = """
SELECT d.hardware_id, d.cpu_id, d.mac1, d.mac2, d.reported_mn, d.peer, d.state, d.mn, s.code,
       p.code, d.first_seen_at, d.last_seen_at, d.assigned_at, d.activated_at
FROM hj212_device d LEFT JOIN point p ON p.id = d.point_id LEFT JOIN site s ON s.id = p.site_id
WHERE %(state)s::text IS NULL OR d.state = %(state)s
ORDER BY d.first_seen_at
"""
_CHECKS = """
SELECT p.code, c.parameter, k.ts, k.measured, k.standard, k.passed, k.result_type, k.late,
       k.received_at
FROM hj212_standard_check k JOIN channel c ON c.id = k.channel_id
JOIN point p ON p.id = c.point_id JOIN site s ON s.id = p.site_id
WHERE s.code = %(site)s AND k.ts >= %(lo)s AND k.ts < %(hi)s
ORDER BY p.code, c.parameter, k.ts
"""


_EARLIEST, _LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def _span(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """[from, to) in UTC, default the last 31 days; 422 outside 2000-2100 or reversed."""
    hi = end or datetime.now(UTC)
    hi = hi if hi.tzinfo else hi.replace(tzinfo=UTC)
    if not _EARLIEST <= hi <= _LATEST:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "'to' must be in 2000-2100")
    lo = start or hi - timedelta(days=31)
    lo = lo if lo.tzinfo else lo.replace(tzinfo=UTC)
    if not _EARLIEST <= lo <= hi:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "'from' must be in 2000-2100 and not after 'to'"
        )
    return lo, hi


@router.get("/hj212/loggers", response_model=list[LoggerOut], responses=error_responses(401, 403))
async def get_loggers(state: State, _key: Operator) -> list[LoggerOut]:
    """Every logger heard: last edition, encryption, key id, last heard, online."""
    online_within = timedelta(seconds=state.settings.hj212_idle_timeout_s)
    now = datetime.now(UTC)
    async with state.pool.connection() as conn:
        rows = await (await conn.execute(_LOGGERS)).fetchall()
    return [
        LoggerOut(
            mn=mn,
            site=site,
            point=point,
            version=version,
            encrypted=encrypted,
            key_id=kid,
            peer=peer,
            last_seen_at=seen,
            last_heartbeat_at=beat,
            online=now - seen < online_within,
        )
        for mn, site, point, version, encrypted, kid, peer, seen, beat in rows
    ]


@router.get("/hj212/devices", response_model=list[DeviceOut], responses=error_responses(401, 403))
async def get_devices(
    state: State,
    _key: Admin,
    device_state: Annotated[
        str | None, Query(alias="state", pattern="^(pending|assigned|activated)$")
    ] = None,
) -> list[dict[str, Any]]:
    """Loggers that sent CN 1001 (hardware identity): pending until `wqmon hj212 activate`."""
    names = list(DeviceOut.model_fields)
    async with state.pool.connection() as conn:
        rows = await (await conn.execute(_DEVICES, {"state": device_state})).fetchall()
    return [dict(zip(names, row, strict=True)) for row in rows]


@router.get(
    "/hj212/standard-checks",
    response_model=list[CheckOut],
    responses=error_responses(401, 403, 422),
)
async def get_standard_checks(
    state: State,
    key: Caller,
    site: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")],
    start: Annotated[
        datetime | None, Query(alias="from", description="default: to − 31 days")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="default: now")] = None,
) -> list[dict[str, Any]]:
    """CN 2062 standard-sample check results of a site's channels over [from, to)."""
    ensure_readable(key, site)
    lo, hi = _span(start, end)
    names = list(CheckOut.model_fields)
    async with state.pool.connection() as conn:
        rows = await (await conn.execute(_CHECKS, {"site": site, "lo": lo, "hi": hi})).fetchall()
    return [dict(zip(names, row, strict=True)) for row in rows]
