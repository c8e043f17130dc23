"""HJ 212-2025: SM4 keys per MN, devices awaiting activation, logger editions, 2062 check results,
and indexes for late (RF=1) data.

Revision ID: 0009
Revises: 0010
Create Date: 2026-12-02 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "hj212_key",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("mn", sa.Text(), nullable=False),
        sa.Column("key_hex", sa.Text(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("sk_create_time", sa.Text(), nullable=True),
        sa.Column("created_at", _TZ, server_default=_now(), nullable=False),
        sa.Column("superseded_at", _TZ, nullable=True),
        sa.CheckConstraint("origin IN ('cli', 'platform')", name=op.f("ck_hj212_key_origin")),
        sa.CheckConstraint("char_length(key_hex) = 32", name=op.f("ck_hj212_key_key_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hj212_key")),
    )
    op.create_index("ix_hj212_key_mn", "hj212_key", ["mn", "id"], unique=False)
    op.create_table(
        "hj212_device",
        sa.Column("hardware_id", sa.Text(), nullable=False),
        sa.Column("cpu_id", sa.Text(), nullable=True),
        sa.Column("mac1", sa.Text(), nullable=True),
        sa.Column("mac2", sa.Text(), nullable=True),
        sa.Column("reported_mn", sa.Text(), nullable=True),
        sa.Column("peer", sa.Text(), nullable=False, server_default=sa.text("''")),
        sa.Column("state", sa.Text(), nullable=False, server_default=sa.text("'pending'")),
        sa.Column("mn", sa.Text(), nullable=True),
        sa.Column("point_id", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", _TZ, server_default=_now(), nullable=False),
        sa.Column("last_seen_at", _TZ, server_default=_now(), nullable=False),
        sa.Column("assigned_at", _TZ, nullable=True),
        sa.Column("activated_at", _TZ, nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'assigned', 'activated')", name=op.f("ck_hj212_device_state")
        ),
        sa.ForeignKeyConstraint(
            ["point_id"],
            ["point.id"],
            name=op.f("fk_hj212_device_point_id_point"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("hardware_id", name=op.f("pk_hj212_device")),
    )
    op.create_table(
        "hj212_logger",
        sa.Column("mn", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=True),
        sa.Column("peer", sa.Text(), nullable=False, server_default=sa.text("''")),
        sa.Column("last_seen_at", _TZ, nullable=False),
        sa.Column("last_heartbeat_at", _TZ, nullable=True),
        sa.PrimaryKeyConstraint("mn", name=op.f("pk_hj212_logger")),
    )
    op.create_table(
        "hj212_standard_check",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("ts", _TZ, nullable=False),
        sa.Column("measured", sa.Float(), nullable=True),
        sa.Column("standard", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("result_type", sa.Text(), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("received_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "ts", name=op.f("pk_hj212_standard_check")),
    )
    # Late (RF=1) data are ordinary rows whose source is 'hj212-late': these keep them findable.
    op.create_index(
        "ix_reading_late",
        "reading",
        ["channel_id", "ts"],
        postgresql_where=sa.text("source = 'hj212-late'"),
    )
    op.create_index(
        "ix_logger_period_late",
        "logger_period",
        ["channel_id", "ts"],
        postgresql_where=sa.text("source = 'hj212-late'"),
    )


def downgrade() -> None:
    op.drop_index("ix_logger_period_late", table_name="logger_period")
    op.drop_index("ix_reading_late", table_name="reading")
    op.drop_table("hj212_standard_check")
    op.drop_table("hj212_logger")
    op.drop_table("hj212_device")
    op.drop_index("ix_hj212_key_mn", table_name="hj212_key")
    op.drop_table("hj212_key")
