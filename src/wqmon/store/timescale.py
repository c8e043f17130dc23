"""TimescaleDB detection and hypertable conversion.

The Alembic revisions create plain tables; this step, run after every migration, turns the
time-series tables into hypertables when the extension can be used. It is idempotent, and it also
converts a database that ran in plain mode before the extension was installed (existing rows are
migrated into chunks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, text

from wqmon.errors import ConfigError
from wqmon.store.tables import HYPERTABLES


@dataclass(frozen=True, slots=True)
class StoreMode:
    """Which storage mode a database is in, and why."""

    hypertables: bool
    timescaledb_version: str | None
    reason: str

    def describe(self) -> str:
        if self.hypertables:
            return f"hypertable mode (TimescaleDB {self.timescaledb_version}): {self.reason}"
        return f"plain PostgreSQL mode: {self.reason}"


def _extension_usable(conn: Connection) -> str | None:
    """Why the extension cannot be used here, or None when it can."""
    available = conn.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    ).scalar()
    if available is None:
        return "the timescaledb extension is not installed on this server"
    preload = conn.execute(text("SELECT current_setting('shared_preload_libraries')")).scalar()
    if "timescaledb" not in str(preload):
        return "timescaledb is installed but not in shared_preload_libraries"
    return None


def installed_version(conn: Connection) -> str | None:
    """The version of the extension created in this database, if any."""
    value = conn.execute(
        text("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    ).scalar()
    return None if value is None else str(value)


def hypertable_names(conn: Connection) -> set[str]:
    """Names of the hypertables in this database (empty without the extension)."""
    if installed_version(conn) is None:
        return set()
    rows = conn.execute(text("SELECT hypertable_name FROM timescaledb_information.hypertables"))
    return {str(r[0]) for r in rows}


def ensure_hypertables(conn: Connection, wanted: Literal["auto", "require", "off"]) -> StoreMode:
    """Create the extension and hypertables as `wanted` allows; report the resulting mode."""
    if wanted == "off":
        return StoreMode(False, None, "TimescaleDB disabled by settings (timescale = off)")
    obstacle = _extension_usable(conn)
    if obstacle is not None:
        if wanted == "require":
            raise ConfigError(f"timescale = require, but {obstacle}")
        return StoreMode(False, None, obstacle)
    conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
    existing = hypertable_names(conn)
    for table, interval in HYPERTABLES.items():
        if table in existing:
            continue
        # Our own primary keys are the only indexes wanted: the default `ts DESC` index costs
        # ~40 % of COPY speed (docs/performance-notes.md §3) and the key (channel_id, ts) serves our queries.
        conn.execute(
            text(
                f"SELECT create_hypertable('{table}', by_range('ts', INTERVAL '{interval}'), "
                "create_default_indexes => false, migrate_data => true)"
            )
        )
    return StoreMode(
        True, installed_version(conn), f"hypertables: {', '.join(sorted(HYPERTABLES))}"
    )


def current_mode(conn: Connection) -> StoreMode:
    """Detect the mode of an already migrated database without changing it."""
    names = hypertable_names(conn)
    if set(HYPERTABLES) <= names:
        return StoreMode(True, installed_version(conn), "hypertables present")
    return StoreMode(False, None, "no hypertables in this database")
