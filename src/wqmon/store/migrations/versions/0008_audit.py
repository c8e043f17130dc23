"""Data audit: marks, corrections, per-channel validity hours and days; site permit fields.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out (not imported from the application) so the revision keeps its meaning.
_REASONS = (
    "reason IN ('maintenance', 'calibration', 'instrument_fault', 'sampling_fault', "
    "'power_cut', 'network_fault', 'shutdown', 'lab_result', 'other')"
)


def _tz(name: str, *, nullable: bool = False, now: bool = False) -> sa.Column[object]:
    default = sa.text("now()") if now else None
    return sa.Column(name, sa.DateTime(timezone=True), server_default=default, nullable=nullable)


def _who() -> list[sa.Column[object]]:
    return [
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        _tz("created_at", now=True),
        _tz("revoked_at", nullable=True),
        sa.Column("revoked_by", sa.Text(), nullable=True),
        sa.Column("revoke_comment", sa.Text(), nullable=True),
    ]


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="CASCADE",
    )


def _sites_and_hours() -> None:
    op.add_column("site", sa.Column("permit", sa.Text(), nullable=True))
    op.add_column(
        "site",
        sa.Column(
            "permit_parameters",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.create_check_constraint(
        op.f("ck_site_permit"),
        "site",
        "permit IS NULL OR permit IN ('key', 'simplified', 'registration')",
    )
    for column in ("marks", "corrections"):
        op.add_column(
            "point_hour",
            sa.Column(
                column,
                postgresql.ARRAY(sa.BigInteger()),
                server_default=sa.text("'{}'"),
                nullable=False,
            ),
        )


def _marks_and_corrections() -> None:
    op.create_table(
        "audit_mark",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        _tz("start"),
        _tz("end"),
        sa.Column("validity", sa.Text(), nullable=False),
        *_who(),
        sa.CheckConstraint("validity IN ('invalid', 'valid')", name=op.f("ck_audit_mark_validity")),
        sa.CheckConstraint(_REASONS, name=op.f("ck_audit_mark_reason")),
        sa.CheckConstraint('"end" > start', name=op.f("ck_audit_mark_range")),
        _fk("audit_mark", "point_id", "point"),
        _fk("audit_mark", "channel_id", "channel"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_mark")),
    )
    op.create_index("ix_audit_mark_point_id_start", "audit_mark", ["point_id", "start"])
    op.create_table(
        "audit_correction",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        _tz("start"),
        _tz("end"),
        *_who(),
        sa.CheckConstraint("kind IN ('value', 'series')", name=op.f("ck_audit_correction_kind")),
        sa.CheckConstraint(_REASONS, name=op.f("ck_audit_correction_reason")),
        sa.CheckConstraint(
            "(kind = 'value' AND \"end\" = start) OR (kind = 'series' AND \"end\" > start)",
            name=op.f("ck_audit_correction_range"),
        ),
        _fk("audit_correction", "channel_id", "channel"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_correction")),
    )
    op.create_index(
        "ix_audit_correction_channel_id_start", "audit_correction", ["channel_id", "start"]
    )
    op.create_table(
        "audit_correction_value",
        sa.Column("correction_id", sa.BigInteger(), nullable=False),
        _tz("ts"),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["correction_id"],
            ["audit_correction.id"],
            name=op.f("fk_audit_correction_value_correction_id_audit_correction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("correction_id", "ts", name=op.f("pk_audit_correction_value")),
    )


def _validity() -> None:
    op.create_table(
        "channel_hour",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        _tz("hour"),
        sa.Column("received", sa.Boolean(), nullable=False),
        sa.Column("n_samples", sa.Integer(), nullable=False),
        sa.Column("n_valid", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=True),
        sa.Column("mark_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "state IN ('valid', 'invalid', 'shutdown')", name=op.f("ck_channel_hour_state")
        ),
        _fk("channel_hour", "channel_id", "channel"),
        sa.PrimaryKeyConstraint("channel_id", "hour", name=op.f("pk_channel_hour")),
    )
    op.create_table(
        "channel_day",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("received_hours", sa.Integer(), nullable=False),
        sa.Column("valid_hours", sa.Integer(), nullable=False),
        sa.Column("invalid_hours", sa.Integer(), nullable=False),
        sa.Column("shutdown_hours", sa.Integer(), nullable=False),
        sa.Column(
            "causes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "marks",
            postgresql.ARRAY(sa.BigInteger()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        _fk("channel_day", "channel_id", "channel"),
        sa.PrimaryKeyConstraint("channel_id", "day", name=op.f("pk_channel_day")),
    )


def upgrade() -> None:
    _sites_and_hours()
    _marks_and_corrections()
    _validity()


def downgrade() -> None:
    for table in ("channel_day", "channel_hour", "audit_correction_value"):
        op.drop_table(table)
    op.drop_table("audit_correction")
    op.drop_table("audit_mark")
    op.drop_column("point_hour", "corrections")
    op.drop_column("point_hour", "marks")
    op.drop_constraint(op.f("ck_site_permit"), "site", type_="check")
    op.drop_column("site", "permit_parameters")
    op.drop_column("site", "permit")
