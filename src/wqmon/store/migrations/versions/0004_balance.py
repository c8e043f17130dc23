"""Balance rollups: point_hour, point_day and the rollup_dirty queue.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _point_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["point_id"], ["point.id"], name=op.f(f"fk_{table}_point_id_point"), ondelete="CASCADE"
    )


def _computed_at() -> sa.Column[object]:
    return sa.Column(
        "computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "point_hour",
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("parameter", sa.Text(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("volume_m3", sa.Float(), nullable=False),
        sa.Column("load_kg", sa.Float(), nullable=True),
        sa.Column("conc_mg_l", sa.Float(), nullable=True),
        sa.Column("coverage", sa.Float(), nullable=False),
        sa.Column("flag", sa.Text(), nullable=False),
        sa.Column("n_samples", sa.Integer(), nullable=False),
        sa.Column("n_valid", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        _computed_at(),
        sa.CheckConstraint(
            "source IN ('realtime', 'hour', 'minute')", name=op.f("ck_point_hour_source")
        ),
        sa.CheckConstraint("coverage >= 0 AND coverage <= 1", name=op.f("ck_point_hour_coverage")),
        sa.CheckConstraint(
            "char_length(flag) BETWEEN 1 AND 4", name=op.f("ck_point_hour_flag_length")
        ),
        _point_fk("point_hour"),
        sa.PrimaryKeyConstraint("point_id", "parameter", "hour", name=op.f("pk_point_hour")),
    )
    op.create_table(
        "point_day",
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("parameter", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("volume_m3", sa.Float(), nullable=False),
        sa.Column("load_kg", sa.Float(), nullable=False),
        sa.Column("load_volume_m3", sa.Float(), nullable=False),
        sa.Column("flow_hours", sa.Float(), nullable=False),
        sa.Column("load_hours", sa.Float(), nullable=False),
        sa.Column("expected_hours", sa.Float(), nullable=False),
        _computed_at(),
        _point_fk("point_day"),
        sa.PrimaryKeyConstraint("point_id", "parameter", "day", name=op.f("pk_point_day")),
    )
    op.create_table(
        "rollup_dirty",
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "marked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        _point_fk("rollup_dirty"),
        sa.PrimaryKeyConstraint("point_id", "hour", name=op.f("pk_rollup_dirty")),
    )


def downgrade() -> None:
    op.drop_table("rollup_dirty")
    op.drop_table("point_day")
    op.drop_table("point_hour")
