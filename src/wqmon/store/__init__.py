"""Storage: SQLAlchemy Core tables, Alembic migrations, the idempotent reading writer."""
