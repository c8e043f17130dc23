"""Accounting: region-year accounts, department inputs, versions, review, reports, plans.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLES_BEFORE = "role IN ('gateway', 'operator', 'admin')"
_ROLES = "role IN ('gateway', 'operator', 'admin', 'county', 'city', 'province')"


def upgrade() -> None:
    op.create_table(
        "accounting_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column(
            "detail",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounting_event")),
    )
    op.create_index(
        "ix_accounting_event_region_code", "accounting_event", ["region_code", "year"], unique=False
    )
    op.create_table(
        "account",
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("state", sa.Text(), server_default=sa.text("'draft'"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("opened_by", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('draft', 'submitted', 'returned', 'approved')", name=op.f("ck_account_state")
        ),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["region.code"],
            name=op.f("fk_account_region_code_region"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("region_code", "year", name=op.f("pk_account")),
    )
    op.create_table(
        "accounting_deadline",
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("set_by", sa.Text(), nullable=False),
        sa.Column(
            "set_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["region.code"],
            name=op.f("fk_accounting_deadline_region_code_region"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("region_code", "year", name=op.f("pk_accounting_deadline")),
    )
    op.create_table(
        "assessment_report",
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["region.code"],
            name=op.f("fk_assessment_report_region_code_region"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "region_code", "year", "version", name=op.f("pk_assessment_report")
        ),
    )
    op.create_table(
        "region_work",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("capacity_m3_per_day", sa.Float(), nullable=True),
        sa.Column("length_km", sa.Float(), nullable=True),
        sa.Column("planned_completion", sa.Date(), nullable=False),
        sa.Column("actual_completion", sa.Date(), nullable=True),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('sewer_network', 'treatment_plant', 'treatment_upgrade', 'other')",
            name=op.f("ck_region_work_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["region.code"],
            name=op.f("fk_region_work_region_code_region"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_region_work")),
    )
    op.create_table(
        "account_input",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("source_department", sa.Text(), nullable=False),
        sa.Column("document_ref", sa.Text(), nullable=False),
        sa.Column("document_date", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("entered_by", sa.Text(), nullable=False),
        sa.Column(
            "entered_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('urban_population', 'cod_g_per_person_day', 'self_supplied_water_m3', 'self_supplied_cod_mg_l', 'livestock_cod_kg', 'other_cod_kg')",
            name=op.f("ck_account_input_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["region_code", "year"],
            ["account.region_code", "account.year"],
            name=op.f("fk_account_input_region_code_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_input")),
    )
    op.create_index(
        "ix_account_input_current",
        "account_input",
        ["region_code", "year", "kind"],
        unique=True,
        postgresql_where=sa.text("replaced_at IS NULL"),
    )
    op.create_table(
        "account_version",
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "submitted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("submitted_by", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('submitted', 'returned', 'approved')", name=op.f("ck_account_version_state")
        ),
        sa.ForeignKeyConstraint(
            ["region_code", "year"],
            ["account.region_code", "account.year"],
            name=op.f("fk_account_version_region_code_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("region_code", "year", "version", name=op.f("pk_account_version")),
    )
    op.create_table(
        "rectification_plan",
        sa.Column("site_code", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("responsible_unit", sa.Text(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('planned', 'in_progress', 'done')",
            name=op.f("ck_rectification_plan_status"),
        ),
        sa.ForeignKeyConstraint(
            ["site_code"],
            ["site.code"],
            name=op.f("fk_rectification_plan_site_code_site"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_code", "year", name=op.f("pk_rectification_plan")),
    )
    op.create_table(
        "report_finding",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("about_region", sa.Text(), nullable=True),
        sa.Column("figure", sa.Text(), nullable=True),
        sa.Column("finding", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["region_code", "year", "version"],
            [
                "assessment_report.region_code",
                "assessment_report.year",
                "assessment_report.version",
            ],
            name=op.f("fk_report_finding_region_code_assessment_report"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_finding")),
    )
    op.create_table(
        "account_comment",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("figure", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["region_code", "year", "version"],
            ["account_version.region_code", "account_version.year", "account_version.version"],
            name=op.f("fk_account_comment_region_code_account_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_comment")),
    )
    op.add_column(
        "api_key",
        sa.Column(
            "regions", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
    )
    # ### end Alembic commands ###

    op.drop_constraint(op.f("ck_api_key_role"), "api_key", type_="check")
    op.create_check_constraint(op.f("ck_api_key_role"), "api_key", _ROLES)


def downgrade() -> None:
    op.execute("DELETE FROM api_key WHERE role IN ('county', 'city', 'province')")
    op.drop_constraint(op.f("ck_api_key_role"), "api_key", type_="check")
    op.create_check_constraint(op.f("ck_api_key_role"), "api_key", _ROLES_BEFORE)
    op.drop_column("api_key", "regions")
    op.drop_table("account_comment")
    op.drop_table("report_finding")
    op.drop_table("rectification_plan")
    op.drop_table("account_version")
    op.drop_index(
        "ix_account_input_current",
        table_name="account_input",
        postgresql_where=sa.text("replaced_at IS NULL"),
    )
    op.drop_table("account_input")
    op.drop_table("region_work")
    op.drop_table("assessment_report")
    op.drop_table("accounting_deadline")
    op.drop_table("account")
    op.drop_index("ix_accounting_event_region_code", table_name="accounting_event")
    op.drop_table("accounting_event")
    # ### end Alembic commands ###
