"""The `hj212_command` table from the command line's side: queue a history pull, read its state.

The ingest process that holds the logger's connection runs the command
(`wqmon.drivers.hj212.commands`); it listens on `CHANNEL` for new rows.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from wqmon.errors import ConfigError
from wqmon.settings import libpq_url

CHANNEL = "wqmon_hj212"


def site_timezone(database_url: str, mn: str) -> str:
    """The zone of the site whose point has MN `mn`.

    Raises:
        ConfigError: No point has this MN.
    """
    sql = "SELECT s.timezone FROM point p JOIN site s ON s.id = p.site_id WHERE p.hj212_mn = %s"
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(sql, (mn,)).fetchone()
    if row is None:
        raise ConfigError(f"no monitoring point has HJ 212 MN {mn!r}")
    return str(row[0])


def enqueue_backfill(database_url: str, mn: str, cn: str, begin: datetime, end: datetime) -> int:
    """Insert a pending history pull and notify the ingest process; returns the command id."""
    if begin.tzinfo is None or end.tzinfo is None:
        raise ValueError("begin and end must be timezone-aware")
    sql = 'INSERT INTO hj212_command (mn, cn, begin, "end") VALUES (%s, %s, %s, %s) RETURNING id'
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(sql, (mn, cn, begin, end)).fetchone()
        assert row is not None  # noqa: S101 - INSERT ... RETURNING always returns the row
        conn.execute(f"NOTIFY {CHANNEL}, '{int(row[0])}'")
    return int(row[0])


def command_status(database_url: str, command_id: int) -> tuple[str, str]:
    """(state, detail) of a command."""
    sql = "SELECT state, detail FROM hj212_command WHERE id = %s"
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(sql, (command_id,)).fetchone()
    if row is None:
        raise ConfigError(f"no HJ 212 command {command_id}")
    return str(row[0]), str(row[1])
