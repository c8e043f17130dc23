"""`wqmon migrate` on TimescaleDB and on plain PostgreSQL."""

from __future__ import annotations

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool

from wqmon.settings import Settings, sqlalchemy_url
from wqmon.store.migrate import migrate
from wqmon.store.tables import HYPERTABLES, metadata


def test_timescaledb_loaded_and_reading_is_a_hypertable(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        ext = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
        assert ext is not None
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()
        assert preload is not None
        assert "timescaledb" in preload[0]
        rows = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables"
        ).fetchall()
    assert {r[0] for r in rows} == set(HYPERTABLES)
    assert "reading" in HYPERTABLES


def test_migrate_auto_creates_hypertables_and_says_so(empty_db_url: str) -> None:
    mode = migrate(Settings(database_url=empty_db_url, timescale="auto"))
    assert mode.hypertables
    assert "hypertable mode" in mode.describe()
    again = migrate(Settings(database_url=empty_db_url, timescale="auto"))
    assert again.hypertables


def test_migrate_off_gives_plain_tables_and_later_conversion(empty_db_url: str) -> None:
    mode = migrate(Settings(database_url=empty_db_url, timescale="off"))
    assert not mode.hypertables
    assert "plain PostgreSQL mode" in mode.describe()
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_extension WHERE extname='timescaledb'"
        ).fetchone() == (0,)
        conn.execute(
            "INSERT INTO reading VALUES (1, '2025-01-01T00:00:00Z', 1.5, 'N', 'test', now())"
        )
        conn.commit()
    # The same database converted in place once TimescaleDB is allowed; rows survive.
    mode = migrate(Settings(database_url=empty_db_url, timescale="auto"))
    assert mode.hypertables
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM reading").fetchone() == (1,)


def test_schema_matches_table_definitions(any_db_url: str) -> None:
    engine = create_engine(sqlalchemy_url(any_db_url), poolclass=pool.NullPool)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []
