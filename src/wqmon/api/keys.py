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

Role = Literal["gateway", "operator", "admin", "county", "city", "province"]
# Roles of the annual accounting cycle (docs/accounting.md): they act for regions, not sites.
ACCOUNTING_ROLES: frozenset[str] = frozenset({"county", "city", "province"})
TOKEN_PREFIX = "wqm_"  # noqa: S105 - a marker, not a secret


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An authenticated caller: its role, the sites it may write (gateways) or read, and for
    the accounting roles the regions it acts for with their subtrees."""

    id: int
    name: str
    role: Role
    sites: frozenset[str]
    regions: frozenset[str] = frozenset()

    @property
    def accounting(self) -> bool:
        return self.role in ACCOUNTING_ROLES

    def may_write(self, site: str) -> bool:
        return self.role == "gateway" and site in self.sites


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_LOOKUP = """
SELECT k.id, k.name, k.role,
       k.sites || coalesce(array_agg(s.code) FILTER (WHERE s.code IS NOT NULL), '{}'),
       k.regions
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
    key = ApiKey(int(row[0]), str(row[1]), row[2], frozenset(row[3]))
    if key.role not in ACCOUNTING_ROLES:
        return key
    scope = await (await conn.execute(_SCOPE, (list(row[4]),))).fetchone()
    regions, sites = (scope[0] or [], scope[1] or []) if scope else ([], [])
    return ApiKey(key.id, key.name, key.role, frozenset(sites), frozenset(regions))


# The regions of an accounting key with all their descendants, and the active sites in them.
_SCOPE = """
WITH RECURSIVE tree(code) AS (
    SELECT code FROM region WHERE code = ANY(%s)
    UNION SELECT r.code FROM region r JOIN tree t ON r.parent_code = t.code
)
SELECT (SELECT array_agg(code ORDER BY code) FROM tree),
       (SELECT array_agg(s.code ORDER BY s.code) FROM site s
        WHERE s.active AND s.region_code IN (SELECT code FROM tree))
"""


def create_key(
    database_url: str,
    *,
    name: str,
    role: Role,
    gateway: str | None = None,
    sites: list[str] | None = None,
    regions: list[str] | None = None,
) -> str:
    """Store a new key and return its token (the only time it is visible).

    An accounting role (county, city, province) needs the regions it acts for.
    """
    token = new_token()
    if (role in ACCOUNTING_ROLES) != bool(regions):
        raise ValueError(
            f"a {role} key needs --region"
            if role in ACCOUNTING_ROLES
            else "only county, city and province keys take regions"
        )
    with psycopg.connect(database_url) as conn:
        for code in regions or []:
            if conn.execute("SELECT 1 FROM region WHERE code = %s", (code,)).fetchone() is None:
                raise ValueError(f"region {code!r} is not in the registry")
        if gateway is not None:
            found = conn.execute("SELECT 1 FROM gateway WHERE id = %s", (gateway,)).fetchone()
            if found is None:
                msg = f"gateway {gateway!r} is not in the registry"
                raise ValueError(msg)
        conn.execute(
            "INSERT INTO api_key (name, prefix, token_sha256, role, gateway_id, sites, regions) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                name,
                token[: len(TOKEN_PREFIX) + 8],
                token_hash(token),
                role,
                gateway,
                sites or [],
                regions or [],
            ),
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
