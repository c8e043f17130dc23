"""Alarms and their event history.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tz(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alarm",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        _tz("raised_at", nullable=False),
        _tz("acked_at", nullable=True),
        sa.Column("acked_by", sa.Text(), nullable=True),
        sa.Column("ack_comment", sa.Text(), nullable=True),
        _tz("cleared_at", nullable=True),
        _tz("last_notified_at", nullable=False),
        sa.Column("notify_count", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "state IN ('active', 'acknowledged', 'cleared')", name=op.f("ck_alarm_state")
        ),
        sa.CheckConstraint(
            "severity IN ('critical', 'major', 'warning', 'info')", name=op.f("ck_alarm_severity")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm")),
    )
    op.create_index(
        "ix_alarm_open_rule_target",
        "alarm",
        ["rule", "target"],
        unique=True,
        postgresql_where=sa.text("cleared_at IS NULL"),
    )
    op.create_index("ix_alarm_state", "alarm", ["state"], unique=False)
    op.create_table(
        "alarm_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("alarm_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("alarm", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint(
            "kind IN ('raised', 'acknowledged', 'cleared', 'renotified')",
            name=op.f("ck_alarm_event_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["alarm_id"],
            ["alarm.id"],
            name=op.f("fk_alarm_event_alarm_id_alarm"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_event")),
    )
    op.create_index("ix_alarm_event_alarm_id", "alarm_event", ["alarm_id"], unique=False)


def downgrade() -> None:
    op.drop_table("alarm_event")
    op.drop_table("alarm")
