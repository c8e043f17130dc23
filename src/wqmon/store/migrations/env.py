"""Alembic environment: the URL and options come from the wqmon migrate command (no alembic.ini)."""

from alembic import context
from sqlalchemy import create_engine, pool

from wqmon.store.tables import metadata

config = context.config


def run_migrations_online() -> None:
    """Run the revisions on one connection inside one transaction."""
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("wqmon migrate must set sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; run `wqmon migrate`")
run_migrations_online()
