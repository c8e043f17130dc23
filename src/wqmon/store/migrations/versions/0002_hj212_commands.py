"""HJ 212 commands from other processes (history backfill requests).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hj212_command",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("mn", sa.Text(), nullable=False),
        sa.Column("cn", sa.Text(), nullable=False),
        sa.Column("begin", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'running', 'done', 'failed')",
            name=op.f("ck_hj212_command_state"),
        ),
        sa.CheckConstraint("cn IN ('2031', '2051', '2061')", name=op.f("ck_hj212_command_cn")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hj212_command")),
    )
    op.create_index("ix_hj212_command_state", "hj212_command", ["state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_hj212_command_state", table_name="hj212_command")
    op.drop_table("hj212_command")
