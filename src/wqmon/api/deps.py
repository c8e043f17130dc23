"""FastAPI dependencies: the shared state, the database pool and API-key authentication."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import AsyncConnectionPool

from wqmon.api.keys import ApiKey, DatabaseUnavailableError, KeyCache, Role
from wqmon.ingest.pipeline import Pipeline
from wqmon.settings import Settings


@dataclass
class AppState:
    """What the routes share; built by the application's lifespan."""

    settings: Settings
    pool: AsyncConnectionPool[Any]
    pipeline: Pipeline
    extras: dict[str, Any] = field(default_factory=dict)
    keys: KeyCache = field(default_factory=KeyCache)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.wqmon
    return state


State = Annotated[AppState, Depends(get_state)]

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="or `X-API-Key: <API key>`")


async def authenticate(
    state: State,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> ApiKey:
    """The caller's key, or 401."""
    token = bearer.credentials if bearer is not None else header
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "an API key is required", {"WWW-Authenticate": "Bearer"}
        )
    try:
        key = await state.keys.lookup(state.pool, token, time.monotonic())
    except DatabaseUnavailableError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the key cannot be checked now: database unavailable",
        ) from exc
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or revoked API key",
            {"WWW-Authenticate": "Bearer"},
        )
    return key


Caller = Annotated[ApiKey, Depends(authenticate)]


def require_role(*roles: Role) -> Any:
    """A dependency that lets only the given roles through (403 otherwise)."""

    async def check(key: Caller) -> ApiKey:
        if key.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {key.role!r} may not do this (needs {' or '.join(roles)})",
            )
        return key

    return Depends(check)


def readable_sites(key: ApiKey) -> frozenset[str] | None:
    """The sites a key may read: None means all (operator, admin), else the gateway's own or,
    for the accounting roles, those in the key's regions."""
    return key.sites if key.role == "gateway" or key.accounting else None


def ensure_region(key: ApiKey, region: str) -> None:
    """403 unless the key may read `region`: accounting keys see only their regions' subtrees."""
    if key.role == "gateway":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "gateway keys may not read regions")
    if key.accounting and region not in key.regions:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this key may not read region {region!r}")


def ensure_readable(key: ApiKey, site: str) -> None:
    """403 unless the key may read `site` (gateway keys see only their own sites)."""
    allowed = readable_sites(key)
    if allowed is not None and site not in allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this key may not read site {site!r}")


async def has_time_bucket(state: AppState) -> bool:
    """Whether the database has TimescaleDB's `time_bucket` (cached for the process)."""
    cached = state.extras.get("timescaledb")
    if cached is None:
        async with state.pool.connection() as conn:
            row = await (
                await conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
            ).fetchone()
        cached = state.extras["timescaledb"] = row is not None
    return bool(cached)
