"""API keys: creation, hashing and lookup (docs/contracts.md §2).

A token is `wqm_` + 43 URL-safe characters (256 random bits). The database keeps its SHA-256
and an 8-character prefix to tell keys apart in listings; the token itself is shown once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import psycopg

Role = Literal["gateway", "operator", "admin"]
TOKEN_PREFIX = "wqm_"  # noqa: S105 - a marker, not a secret


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An authenticated caller: its role and, for gateways, the sites it may write."""

    id: int
    name: str
    role: Role
    sites: frozenset[str]

    def may_write(self, site: str) -> bool:
        return self.role == "gateway" and site in self.sites


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_LOOKUP = """
SELECT k.id, k.name, k.role,
       k.sites || coalesce(array_agg(s.code) FILTER (WHERE s.code IS NOT NULL), '{}')
FROM api_key k
LEFT JOIN gateway_site gs ON gs.gateway_id = k.gateway_id
LEFT JOIN site s ON s.id = gs.site_id
WHERE k.token_sha256 = %s AND k.revoked_at IS NULL
GROUP BY k.id
"""


async def find_key(conn: psycopg.AsyncConnection[Any], token: str) -> ApiKey | None:
    """The active key for a token, with the sites of its gateway merged in."""
    row = await (await conn.execute(_LOOKUP, (token_hash(token),))).fetchone()
    if row is None:
        return None
    return ApiKey(int(row[0]), str(row[1]), row[2], frozenset(row[3]))


def create_key(
    database_url: str,
    *,
    name: str,
    role: Role,
    gateway: str | None = None,
    sites: list[str] | None = None,
) -> str:
    """Store a new key and return its token (the only time it is visible)."""
    token = new_token()
    with psycopg.connect(database_url) as conn:
        if gateway is not None:
            found = conn.execute("SELECT 1 FROM gateway WHERE id = %s", (gateway,)).fetchone()
            if found is None:
                msg = f"gateway {gateway!r} is not in the registry"
                raise ValueError(msg)
        conn.execute(
            "INSERT INTO api_key (name, prefix, token_sha256, role, gateway_id, sites) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (name, token[: len(TOKEN_PREFIX) + 8], token_hash(token), role, gateway, sites or []),
        )
    return token


class KeyCache:
    """Recently verified keys, so pushes keep working while the database is away.

    A key found in the database is trusted for `ttl_s`; when the database cannot be reached, a
    key verified before is trusted regardless of age (the pushed readings go to the spool), and
    an unknown one gets 503 rather than 401 — the key may well be valid.
    """

    def __init__(self, ttl_s: float = 30.0) -> None:
        self.ttl_s = ttl_s
        self._keys: dict[str, tuple[ApiKey, float]] = {}

    async def lookup(self, pool: Any, token: str, now: float) -> ApiKey | None:
        digest = token_hash(token)
        cached = self._keys.get(digest)
        if cached is not None and now - cached[1] < self.ttl_s:
            return cached[0]
        try:
            async with pool.connection(timeout=5) as conn:
                key = await find_key(conn, token)
        except (psycopg.OperationalError, TimeoutError) as exc:
            if cached is not None:
                # Ask the database again in a few seconds, not on every request meanwhile.
                self._keys[digest] = (cached[0], now - self.ttl_s + 5.0)
                return cached[0]
            raise DatabaseUnavailableError(str(exc)) from exc
        if key is None:
            self._keys.pop(digest, None)
        else:
            self._keys[digest] = (key, now)
        return key


class DatabaseUnavailableError(Exception):
    """The key could not be checked because the database is unreachable."""
