"""`wqmon migrate`: Alembic revisions, then hypertables where TimescaleDB is available."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool

from wqmon.settings import Settings, sqlalchemy_url
from wqmon.store.timescale import StoreMode, ensure_hypertables


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", "wqmon.store:migrations")
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def migrate(settings: Settings) -> StoreMode:
    """Bring the schema to the newest revision and convert the time-series tables.

    Returns the mode the store is in, so the caller can say which.
    """
    command.upgrade(alembic_config(settings.database_url), "head")
    engine = create_engine(sqlalchemy_url(settings.database_url), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            return ensure_hypertables(conn, settings.timescale)
    finally:
        engine.dispose()
