"""Modbus polling: the modbus_bus table and each point's device bindings (point.modbus).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "modbus_bus",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("transport", sa.Text(), nullable=False),
        sa.Column("host", sa.Text(), nullable=True),
        sa.Column("port", sa.Integer(), server_default=sa.text("502"), nullable=False),
        sa.Column("serial_port", sa.Text(), nullable=True),
        sa.Column("baudrate", sa.Integer(), server_default=sa.text("9600"), nullable=False),
        sa.Column("bytesize", sa.SmallInteger(), server_default=sa.text("8"), nullable=False),
        sa.Column("parity", sa.Text(), server_default=sa.text("'N'"), nullable=False),
        sa.Column("stopbits", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("timeout_s", sa.Float(), server_default=sa.text("1"), nullable=False),
        sa.Column("retries", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("message_wait_ms", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("poll_interval_s", sa.Float(), server_default=sa.text("10"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.CheckConstraint(
            "transport IN ('tcp', 'rtu', 'rtu_over_tcp')", name=op.f("ck_modbus_bus_transport")
        ),
        sa.CheckConstraint("parity IN ('N', 'E', 'O')", name=op.f("ck_modbus_bus_parity")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_modbus_bus")),
    )
    op.add_column(
        "point",
        sa.Column(
            "modbus",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("point", "modbus")
    op.drop_table("modbus_bus")
