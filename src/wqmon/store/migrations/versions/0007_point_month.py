"""Balance: point_month, the monthly sums of point_day (filled from the existing days).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same sums as `wqmon.balance.store.refresh_months`, written out here so the revision keeps
# meaning what it meant when the application code moves on. 260 mg/L and "any valid hour" are
# the policy's defaults for counting low-concentration days.
_FILL = """
INSERT INTO point_month (point_id, parameter, month, volume_m3, load_kg, load_volume_m3,
                         flow_hours, load_hours, low_days, evaluated_days)
SELECT point_id, parameter, date_trunc('month', day::timestamp)::date, sum(volume_m3),
       sum(load_kg), sum(load_volume_m3), sum(flow_hours), sum(load_hours),
       count(*) FILTER (WHERE load_volume_m3 > 0 AND load_hours > 0
                        AND load_kg * 1000 < 260 * load_volume_m3),
       count(*) FILTER (WHERE load_volume_m3 > 0 AND load_hours > 0)
FROM point_day GROUP BY 1, 2, 3
"""


def upgrade() -> None:
    op.create_table(
        "point_month",
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("parameter", sa.Text(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("volume_m3", sa.Float(), nullable=False),
        sa.Column("load_kg", sa.Float(), nullable=False),
        sa.Column("load_volume_m3", sa.Float(), nullable=False),
        sa.Column("flow_hours", sa.Float(), nullable=False),
        sa.Column("load_hours", sa.Float(), nullable=False),
        sa.Column("low_days", sa.Integer(), nullable=False),
        sa.Column("evaluated_days", sa.Integer(), nullable=False),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["point_id"],
            ["point.id"],
            name=op.f("fk_point_month_point_id_point"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("point_id", "parameter", "month", name=op.f("pk_point_month")),
    )
    op.execute(_FILL)


def downgrade() -> None:
    op.drop_table("point_month")
