"""Shared fixtures: throwaway PostgreSQL/TimescaleDB and Mosquitto on free loopback ports."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.services import Mosquitto, PgCluster, timescaledb_installed
from wqmon.registry.importer import import_file
from wqmon.settings import Settings
from wqmon.store.migrate import migrate

TEMPLATE_TS = "wqmon_tpl_timescale"
TEMPLATE_PLAIN = "wqmon_tpl_plain"
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    """The session's PostgreSQL cluster, with TimescaleDB preloaded (CI installs it)."""
    assert timescaledb_installed(), "TimescaleDB is not installed: run scripts/setup"
    cluster = PgCluster()
    cluster.init()
    with (cluster.datadir / "postgresql.conf").open("a") as fh:
        # No background jobs: databases are copied from templates, which needs them idle.
        fh.write("timescaledb.max_background_workers = 0\n")
    cluster.start()
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE_TS}")
        conn.execute(f"CREATE DATABASE {TEMPLATE_PLAIN}")
    migrate(Settings(database_url=cluster.url(TEMPLATE_TS), timescale="require"))
    migrate(Settings(database_url=cluster.url(TEMPLATE_PLAIN), timescale="off"))
    yield cluster
    cluster.destroy()


def _new_database(pg: PgCluster, template: str) -> str:
    name = f"t{os.getpid()}_{next(_db_counter)}"
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return pg.url(name)


@pytest.fixture
def db_url(pg: PgCluster) -> str:
    """A fresh, migrated database in hypertable mode."""
    return _new_database(pg, TEMPLATE_TS)


@pytest.fixture
def plain_db_url(pg: PgCluster) -> str:
    """A fresh, migrated database in plain PostgreSQL mode (no extension)."""
    return _new_database(pg, TEMPLATE_PLAIN)


@pytest.fixture(params=["timescale", "plain"])
def any_db_url(request: pytest.FixtureRequest, pg: PgCluster) -> str:
    """A fresh migrated database, once per storage mode."""
    return _new_database(pg, TEMPLATE_TS if request.param == "timescale" else TEMPLATE_PLAIN)


@pytest.fixture
def empty_db_url(pg: PgCluster) -> str:
    """A fresh empty database (not migrated)."""
    return _new_database(pg, "template0")


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A Mosquitto broker of the test's own, with persistence."""
    broker = Mosquitto()
    broker.start()
    yield broker
    broker.destroy()


EXAMPLE_REGISTRY = Path(__file__).parents[1] / "examples" / "registry.yaml"


@pytest.fixture
def registry_db_url(any_db_url: str) -> str:
    """A migrated database (each storage mode) with examples/registry.yaml imported."""
    import_file(any_db_url, EXAMPLE_REGISTRY)
    return any_db_url


@pytest.fixture
def own_pg() -> Iterator[PgCluster]:
    """A PostgreSQL cluster of the test's own, which the test may stop and start."""
    cluster = PgCluster()
    cluster.init()
    cluster.start()
    yield cluster
    cluster.destroy()
