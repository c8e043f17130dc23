"""Initial schema: registry, readings, logger period data, dead letters.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28 19:10:30.092978
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "dead_letter",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("peer", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letter")),
    )
    op.create_index("ix_dead_letter_reason", "dead_letter", ["reason"], unique=False)
    op.create_index("ix_dead_letter_received_at", "dead_letter", ["received_at"], unique=False)
    op.create_table(
        "gateway",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway")),
    )
    op.create_table(
        "logger_period",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("avg", sa.Float(), nullable=True),
        sa.Column("min", sa.Float(), nullable=True),
        sa.Column("max", sa.Float(), nullable=True),
        sa.Column("cou", sa.Float(), nullable=True),
        sa.Column("flag", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "period IN ('minute', 'hour', 'day')", name=op.f("ck_logger_period_period")
        ),
        sa.CheckConstraint(
            "char_length(flag) BETWEEN 1 AND 4", name=op.f("ck_logger_period_flag_length")
        ),
        sa.PrimaryKeyConstraint("channel_id", "period", "ts", name=op.f("pk_logger_period")),
    )
    op.create_table(
        "reading",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("flag", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "char_length(flag) BETWEEN 1 AND 4", name=op.f("ck_reading_flag_length")
        ),
        sa.PrimaryKeyConstraint("channel_id", "ts", name=op.f("pk_reading")),
    )
    op.create_table(
        "region",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("parent_code", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('county', 'park', 'city', 'province')", name=op.f("ck_region_kind")
        ),
        sa.ForeignKeyConstraint(
            ["parent_code"],
            ["region.code"],
            name=op.f("fk_region_parent_code_region"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_region")),
    )
    op.create_table(
        "region_year",
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("urban_population", sa.BigInteger(), nullable=False),
        sa.Column("cod_g_per_person_day", sa.Float(), server_default=sa.text("70"), nullable=False),
        sa.Column("other_cod_kg_per_day", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "extra",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["region.code"],
            name=op.f("fk_region_year_region_code_region"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("region_code", "year", name=op.f("pk_region_year")),
    )
    op.create_table(
        "site",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("capacity_m3_per_day", sa.Float(), nullable=True),
        sa.Column("timezone", sa.Text(), server_default=sa.text("'Asia/Shanghai'"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.CheckConstraint("kind IN ('wwtp', 'enterprise')", name=op.f("ck_site_kind")),
        sa.ForeignKeyConstraint(
            ["region_code"], ["region.code"], name=op.f("fk_site_region_code_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site")),
        sa.UniqueConstraint("code", name=op.f("uq_site_code")),
    )
    op.create_table(
        "gateway_site",
        sa.Column("gateway_id", sa.Text(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["gateway.id"],
            name=op.f("fk_gateway_site_gateway_id_gateway"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["site.id"], name=op.f("fk_gateway_site_site_id_site"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("gateway_id", "site_id", name=op.f("pk_gateway_site")),
    )
    op.create_table(
        "point",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("discharges_to", sa.Text(), nullable=True),
        sa.Column("hj212_mn", sa.Text(), nullable=True),
        sa.Column("hj212_password", sa.Text(), nullable=True),
        sa.Column(
            "hj212_options",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "discharges_to IS NULL OR discharges_to IN ('sewer', 'river', 'sea', 'other')",
            name=op.f("ck_point_discharges_to"),
        ),
        sa.CheckConstraint("role IN ('inlet', 'outlet', 'discharge')", name=op.f("ck_point_role")),
        sa.ForeignKeyConstraint(
            ["site_id"], ["site.id"], name=op.f("fk_point_site_id_site"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_point")),
        sa.UniqueConstraint("hj212_mn", name=op.f("uq_point_hj212_mn")),
        sa.UniqueConstraint("site_id", "code", name="uq_point_site_code"),
    )
    op.create_table(
        "channel",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("parameter", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("limit_value", sa.Float(), nullable=True),
        sa.Column("limit_min", sa.Float(), nullable=True),
        sa.Column("limit_source", sa.Text(), nullable=True),
        sa.Column(
            "bindings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.ForeignKeyConstraint(
            ["point_id"], ["point.id"], name=op.f("fk_channel_point_id_point"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel")),
        sa.UniqueConstraint("point_id", "parameter", name="uq_channel_point_parameter"),
    )


def downgrade() -> None:

    op.drop_table("channel")
    op.drop_table("point")
    op.drop_table("gateway_site")
    op.drop_table("site")
    op.drop_table("region_year")
    op.drop_table("region")
    op.drop_table("reading")
    op.drop_table("logger_period")
    op.drop_table("gateway")
    op.drop_index("ix_dead_letter_received_at", table_name="dead_letter")
    op.drop_index("ix_dead_letter_reason", table_name="dead_letter")
    op.drop_table("dead_letter")
