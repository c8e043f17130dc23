"""`GET /health/ready`: readiness, i.e. the database answers and the MQTT broker accepts TCP.

`/health` (process up) stays trivially cheap for liveness probes; readiness does real I/O with
short timeouts, so a load balancer stops sending traffic while a dependency is down.
"""

from __future__ import annotations

import asyncio
from typing import Literal
from urllib.parse import urlsplit

import psycopg
from fastapi import APIRouter, Response, status
from psycopg_pool import PoolTimeout
from pydantic import BaseModel

from wqmon.api.deps import AppState, State

router = APIRouter(tags=["operations"])
CHECK_TIMEOUT_S = 2.0
MQTT_PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}


class CheckOut(BaseModel):
    """One dependency's check."""

    ok: bool
    detail: str


class ReadinessOut(BaseModel):
    """Readiness and the check of each dependency (also the body of the 503)."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, CheckOut]


async def check_database(state: AppState) -> CheckOut:
    try:
        async with state.pool.connection(timeout=CHECK_TIMEOUT_S) as conn:
            await conn.execute("SELECT 1")
    except (psycopg.Error, PoolTimeout) as exc:
        return CheckOut(ok=False, detail=f"unreachable: {exc}")
    return CheckOut(ok=True, detail="answered SELECT 1")


async def check_mqtt(url: str) -> CheckOut:
    """A TCP connect to the broker (no MQTT session: the API does not subscribe)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    try:
        port = parts.port or MQTT_PORTS.get(parts.scheme, 1883)
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError, ValueError) as exc:
        return CheckOut(ok=False, detail=f"{host}: {exc or 'timed out'}")
    writer.close()
    await writer.wait_closed()
    return CheckOut(ok=True, detail=f"{host}:{port} accepts connections")


@router.get(
    "/health/ready",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut, "description": "a dependency is unreachable"}},
)
async def ready(state: State, response: Response) -> ReadinessOut:
    """Ready when the database answers and, if `WQMON_MQTT_URL` is set, the broker accepts TCP."""
    checks = {"database": await check_database(state)}
    if state.settings.mqtt_url:
        checks["mqtt"] = await check_mqtt(state.settings.mqtt_url)
    if all(c.ok for c in checks.values()):
        return ReadinessOut(status="ready", checks=checks)
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadinessOut(status="not_ready", checks=checks)
