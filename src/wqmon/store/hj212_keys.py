"""HJ 212-2025 SM4 keys and device activation, from the command line's side (docs/hj212.md).

`set_key` stores a new key for an MN; the key it replaces is marked superseded and stays
accepted by the ingest process for the grace period, so a changeover loses nothing. `list_keys`
shows MN, key id (a fingerprint), creation time and state — never the key. `activate` assigns
an MN to a logger that announced itself with CN 1001; the ingest process sends the CN 1002.
Keys are never logged or printed by anything here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from wqmon.errors import ConfigError
from wqmon.protocol.hj212.sm4 import key_id
from wqmon.settings import libpq_url

MAX_KEY_AGE = timedelta(days=90)  # the standard asks for a new key at least every 90 days

INSERT_KEY = """
INSERT INTO hj212_key (mn, key_hex, key_id, origin, sk_create_time, created_at)
VALUES (%s, %s, %s, %s, %s, %s) RETURNING id
"""
SUPERSEDE_KEYS = """
UPDATE hj212_key SET superseded_at = %s WHERE mn = %s AND superseded_at IS NULL AND id <> %s
"""


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One key of the history, as listed (without the key)."""

    mn: str
    key_id: str
    origin: str
    created_at: datetime
    superseded_at: datetime | None
    state: str  # current | previous (still accepted) | retired
    overdue: bool  # the key in force is older than 90 days

    def describe(self) -> str:
        """One line of `wqmon hj212 key list`."""
        note = "  ROTATE: older than 90 days" if self.overdue else ""
        return f"{self.mn}  {self.key_id}  {self.created_at.isoformat()}  {self.state}  {self.origin}{note}"


def key_state(superseded_at: datetime | None, now: datetime, grace: timedelta) -> str:
    """current while not superseded; previous (still accepted) within the grace; then retired."""
    if superseded_at is None:
        return "current"
    return "previous" if now - superseded_at < grace else "retired"


def store_key(
    conn: psycopg.Connection[Any],
    mn: str,
    key: bytes,
    now: datetime,
    *,
    origin: str = "cli",
    sk_create_time: str | None = None,
) -> str:
    """Insert `key` as the MN's key in force and supersede the previous one; returns its id."""
    row = conn.execute(
        INSERT_KEY, (mn, key.hex().upper(), key_id(key), origin, sk_create_time, now)
    ).fetchone()
    assert row is not None  # noqa: S101 - INSERT ... RETURNING always returns the row
    conn.execute(SUPERSEDE_KEYS, (now, mn, row[0]))
    return key_id(key)


def _point_exists(conn: psycopg.Connection[Any], mn: str) -> bool:
    return conn.execute("SELECT 1 FROM point WHERE hj212_mn = %s", (mn,)).fetchone() is not None


def set_key(database_url: str, mn: str, key: bytes, now: datetime) -> str:
    """Set (or rotate) the SM4 key of a registered MN; returns the new key's id.

    Raises:
        ConfigError: No monitoring point has this MN.
    """
    with psycopg.connect(libpq_url(database_url)) as conn:
        if not _point_exists(conn, mn):
            raise ConfigError(f"no monitoring point has HJ 212 MN {mn!r}")
        return store_key(conn, mn, key, now)


def list_keys(
    database_url: str, now: datetime, grace: timedelta, mn: str | None = None
) -> list[KeyRow]:
    """The key history, newest first per MN (all MNs, or one)."""
    sql = (
        "SELECT mn, key_id, origin, created_at, superseded_at FROM hj212_key"
        " WHERE %(mn)s::text IS NULL OR mn = %(mn)s ORDER BY mn, id DESC"
    )
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(sql, {"mn": mn}).fetchall()
    out = []
    for row_mn, kid, origin, created, superseded in rows:
        state = key_state(superseded, now, grace)
        overdue = state == "current" and now - created > MAX_KEY_AGE
        out.append(KeyRow(row_mn, kid, origin, created, superseded, state, overdue))
    return out


def activate(database_url: str, hardware_id: str, mn: str, now: datetime) -> str:
    """Assign `mn` (a registered point's) to the logger with hardware id `hardware_id`.

    Returns the point it is bound to, as `SITE/point`.

    Raises:
        ConfigError: No such pending device, or no monitoring point has this MN.
    """
    point_sql = (
        "SELECT p.id, s.code, p.code FROM point p JOIN site s ON s.id = p.site_id"
        " WHERE p.hj212_mn = %s"
    )
    with psycopg.connect(libpq_url(database_url)) as conn:
        point = conn.execute(point_sql, (mn,)).fetchone()
        if point is None:
            raise ConfigError(
                f"no monitoring point has HJ 212 MN {mn!r}; add it to the registry first"
            )
        updated = conn.execute(
            "UPDATE hj212_device SET state = 'assigned', mn = %s, point_id = %s, assigned_at = %s,"
            " activated_at = NULL WHERE hardware_id = %s RETURNING hardware_id",
            (mn, point[0], now, hardware_id),
        ).fetchone()
        if updated is None:
            raise ConfigError(
                f"no logger with hardware id {hardware_id!r} has announced itself (CN 1001)"
            )
    return f"{point[1]}/{point[2]}"


def ensure_keys(database_url: str, keys: dict[str, bytes], now: datetime) -> int:
    """Make each `keys[mn]` the MN's key in force unless it already is; returns how many changed.

    For simulators, which know their loggers' keys: the platform must know them too.
    """
    changed = 0
    with psycopg.connect(libpq_url(database_url)) as conn:
        for mn, key in keys.items():
            row = conn.execute(
                "SELECT key_id FROM hj212_key WHERE mn = %s AND superseded_at IS NULL"
                " ORDER BY id DESC LIMIT 1",
                (mn,),
            ).fetchone()
            if (row[0] if row else None) != key_id(key) and _point_exists(conn, mn):
                store_key(conn, mn, key, now)
                changed += 1
    return changed
