"""SQLAlchemy 2 Core tables of wqmon. The Alembic revisions create exactly these.

`reading` and `logger_period` become TimescaleDB hypertables when the extension is available
(see `wqmon.store.timescale`); everything else is a plain table. Registry tables use text codes
as the natural keys users know (region, site) and integer ids where rows are referenced at volume
(channel: every reading carries its id).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _tz(name: str, **kwargs: object) -> Column[object]:
    return Column(name, DateTime(timezone=True), **kwargs)  # type: ignore[arg-type]


region = Table(
    "region",
    metadata,
    Column("code", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("parent_code", Text, ForeignKey("region.code", ondelete="SET NULL"), nullable=True),
    CheckConstraint("kind IN ('county', 'park', 'city', 'province')", name="kind"),
)

region_year = Table(
    "region_year",
    metadata,
    Column("region_code", Text, ForeignKey("region.code", ondelete="CASCADE"), nullable=False),
    Column("year", SmallInteger, nullable=False),
    Column("urban_population", BigInteger, nullable=False),
    Column("cod_g_per_person_day", Float, nullable=False, server_default=text("70")),
    Column("other_cod_kg_per_day", Float, nullable=False, server_default=text("0")),
    Column("extra", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    PrimaryKeyConstraint("region_code", "year"),
)

site = Table(
    "site",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("region_code", Text, ForeignKey("region.code"), nullable=False),
    Column("capacity_m3_per_day", Float, nullable=True),
    Column("timezone", Text, nullable=False, server_default=text("'Asia/Shanghai'")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    # Pollutant discharge permit class (排污许可: key / simplified / registration), and the
    # parameters the permit asks to be monitored online (docs/audit.md §5).
    Column("permit", Text, nullable=True),
    Column("permit_parameters", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    CheckConstraint("kind IN ('wwtp', 'enterprise')", name="kind"),
    CheckConstraint(
        "permit IS NULL OR permit IN ('key', 'simplified', 'registration')", name="permit"
    ),
)

point = Table(
    "point",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("site_id", Integer, ForeignKey("site.id", ondelete="CASCADE"), nullable=False),
    Column("code", Text, nullable=False),
    Column("name", Text, nullable=True),
    Column("role", Text, nullable=False),
    Column("discharges_to", Text, nullable=True),
    Column("hj212_mn", Text, nullable=True, unique=True),
    Column("hj212_password", Text, nullable=True),
    # Per-point HJ 212 options, e.g. {"accept_modbus_crc": true, "codes": {"e10201": "cod"}}.
    Column("hj212_options", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # Modbus devices polled for this point, as resolved by the registry import: a list of
    # {"bus", "device_id", "profile", "poll_interval_s", "map", "store_unchanged", "on_failure"}.
    Column("modbus", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    UniqueConstraint("site_id", "code", name="uq_point_site_code"),
    CheckConstraint("role IN ('inlet', 'outlet', 'discharge')", name="role"),
    CheckConstraint(
        "discharges_to IS NULL OR discharges_to IN ('sewer', 'river', 'sea', 'other')",
        name="discharges_to",
    ),
)

channel = Table(
    "channel",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("point_id", Integer, ForeignKey("point.id", ondelete="CASCADE"), nullable=False),
    Column("parameter", Text, nullable=False),  # canonical HJ 212-2017 code
    Column("unit", Text, nullable=False),  # canonical unit of the parameter
    Column("limit_value", Float, nullable=True),  # upper limit (daily/hourly mean), canonical unit
    Column("limit_min", Float, nullable=True),  # lower limit where one exists (pH)
    Column("limit_source", Text, nullable=True),  # preset name or "custom"
    # Source bindings: {"modbus": {"device": "...", "register": "..."}, "hj212_code": "e10201"}
    Column("bindings", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    UniqueConstraint("point_id", "parameter", name="uq_channel_point_parameter"),
)

gateway = Table(
    "gateway",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=True),
    Column("active", Boolean, nullable=False, server_default=text("true")),
)

# Modbus lines and endpoints polled by the ingest process (docs/modbus.md). Devices on a bus are
# bound per point (`point.modbus`); a bus dropped from the registry file is deactivated.
modbus_bus = Table(
    "modbus_bus",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=True),
    Column("transport", Text, nullable=False),
    Column("host", Text, nullable=True),
    Column("port", Integer, nullable=False, server_default=text("502")),
    Column("serial_port", Text, nullable=True),
    Column("baudrate", Integer, nullable=False, server_default=text("9600")),
    Column("bytesize", SmallInteger, nullable=False, server_default=text("8")),
    Column("parity", Text, nullable=False, server_default=text("'N'")),
    Column("stopbits", SmallInteger, nullable=False, server_default=text("1")),
    Column("timeout_s", Float, nullable=False, server_default=text("1")),
    Column("retries", SmallInteger, nullable=False, server_default=text("1")),
    Column("message_wait_ms", Integer, nullable=False, server_default=text("0")),
    Column("poll_interval_s", Float, nullable=False, server_default=text("10")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    CheckConstraint("transport IN ('tcp', 'rtu', 'rtu_over_tcp')", name="transport"),
    CheckConstraint("parity IN ('N', 'E', 'O')", name="parity"),
)

gateway_site = Table(
    "gateway_site",
    metadata,
    Column("gateway_id", Text, ForeignKey("gateway.id", ondelete="CASCADE"), nullable=False),
    Column("site_id", Integer, ForeignKey("site.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("gateway_id", "site_id"),
)

# The hot table. No foreign key to channel: a per-row lookup would cost ingest throughput, and
# channels are never deleted while readings exist (registry import only deactivates them).
reading = Table(
    "reading",
    metadata,
    Column("channel_id", Integer, nullable=False),
    _tz("ts", nullable=False),
    Column("value", Float, nullable=False),
    Column("flag", Text, nullable=False),
    Column("source", Text, nullable=False),
    _tz("received_at", nullable=False),
    PrimaryKeyConstraint("channel_id", "ts"),
    CheckConstraint("char_length(flag) BETWEEN 1 AND 4", name="flag_length"),
)

logger_period = Table(
    "logger_period",
    metadata,
    Column("channel_id", Integer, nullable=False),
    Column("period", Text, nullable=False),
    _tz("ts", nullable=False),
    Column("avg", Float, nullable=True),
    Column("min", Float, nullable=True),
    Column("max", Float, nullable=True),
    Column("cou", Float, nullable=True),
    Column("flag", Text, nullable=False),
    Column("source", Text, nullable=False),
    _tz("received_at", nullable=False),
    PrimaryKeyConstraint("channel_id", "period", "ts"),
    CheckConstraint("period IN ('minute', 'hour', 'day')", name="period"),
    CheckConstraint("char_length(flag) BETWEEN 1 AND 4", name="flag_length"),
)

dead_letter = Table(
    "dead_letter",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("source", Text, nullable=False),
    Column("peer", Text, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", Text, nullable=False),
    _tz("received_at", nullable=False),
    _tz("created_at", nullable=False, server_default=func.now()),
    Index("ix_dead_letter_received_at", "received_at"),
    Index("ix_dead_letter_reason", "reason"),
)

# Commands for the HJ 212 driver from other processes (`wqmon hj212 backfill`): a row plus
# `NOTIFY wqmon_hj212`; the ingest process claims pending rows for loggers it has connected.
hj212_command = Table(
    "hj212_command",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("mn", Text, nullable=False),
    Column("cn", Text, nullable=False),
    _tz("begin", nullable=False),
    _tz("end", nullable=False),
    Column("state", Text, nullable=False, server_default=text("'pending'")),
    _tz("created_at", nullable=False, server_default=func.now()),
    _tz("done_at", nullable=True),
    Column("detail", Text, nullable=False, server_default=text("''")),
    CheckConstraint("state IN ('pending', 'running', 'done', 'failed')", name="state"),
    CheckConstraint("cn IN ('2031', '2051', '2061')", name="cn"),
    Index("ix_hj212_command_state", "state"),
)

# Balance rollups (docs/balance.md). One row per point, parameter and UTC hour; the flow row
# (w00000) carries the volume, a pollutant row its load and the volume that load refers to.
point_hour = Table(
    "point_hour",
    metadata,
    Column("point_id", Integer, ForeignKey("point.id", ondelete="CASCADE"), nullable=False),
    Column("parameter", Text, nullable=False),
    _tz("hour", nullable=False),
    Column("volume_m3", Float, nullable=False),
    Column("load_kg", Float, nullable=True),
    Column("conc_mg_l", Float, nullable=True),
    Column("coverage", Float, nullable=False),
    Column("flag", Text, nullable=False),
    Column("n_samples", Integer, nullable=False),
    Column("n_valid", Integer, nullable=False),
    Column("source", Text, nullable=False),
    _tz("computed_at", nullable=False, server_default=func.now()),
    # The audit marks and corrections that can change the row (docs/audit.md): the trace.
    Column("marks", ARRAY(BigInteger), nullable=False, server_default=text("'{}'")),
    Column("corrections", ARRAY(BigInteger), nullable=False, server_default=text("'{}'")),
    PrimaryKeyConstraint("point_id", "parameter", "hour"),
    CheckConstraint("source IN ('realtime', 'hour', 'minute')", name="source"),
    CheckConstraint("coverage >= 0 AND coverage <= 1", name="coverage"),
    CheckConstraint("char_length(flag) BETWEEN 1 AND 4", name="flag_length"),
)

# Per point, pollutant and local day of the site: the additive sums plant and region accounts
# and reports are built from (a region-year reads these, never hour rows).
point_day = Table(
    "point_day",
    metadata,
    Column("point_id", Integer, ForeignKey("point.id", ondelete="CASCADE"), nullable=False),
    Column("parameter", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("volume_m3", Float, nullable=False),
    Column("load_kg", Float, nullable=False),
    Column("load_volume_m3", Float, nullable=False),
    Column("flow_hours", Float, nullable=False),
    Column("load_hours", Float, nullable=False),
    Column("expected_hours", Float, nullable=False),
    _tz("computed_at", nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("point_id", "parameter", "day"),
)

# `point_day` summed per point, pollutant and local calendar month (maintained with it), with
# the day counts of the 260 mg/L rule at the policy's defaults: a region-year reads ~12 rows per
# point instead of ~365.
point_month = Table(
    "point_month",
    metadata,
    Column("point_id", Integer, ForeignKey("point.id", ondelete="CASCADE"), nullable=False),
    Column("parameter", Text, nullable=False),
    Column("month", Date, nullable=False),
    Column("volume_m3", Float, nullable=False),
    Column("load_kg", Float, nullable=False),
    Column("load_volume_m3", Float, nullable=False),
    Column("flow_hours", Float, nullable=False),
    Column("load_hours", Float, nullable=False),
    Column("low_days", Integer, nullable=False),
    Column("evaluated_days", Integer, nullable=False),
    _tz("computed_at", nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("point_id", "parameter", "month"),
)

# Point-hours waiting for the rollup maintainer; a table, so the queue survives a restart.
rollup_dirty = Table(
    "rollup_dirty",
    metadata,
    Column("point_id", Integer, ForeignKey("point.id", ondelete="CASCADE"), nullable=False),
    _tz("hour", nullable=False),
    _tz("marked_at", nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("point_id", "hour"),
)

# API keys (docs/contracts.md §2): only a SHA-256 of the token is stored. Tokens are 256 random bits,
# so a fast hash is as good as a slow one here, and it keeps authentication off the hot path.
api_key = Table(
    "api_key",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False),  # first characters of the token, to tell keys apart
    Column("token_sha256", Text, nullable=False, unique=True),
    Column("role", Text, nullable=False),
    Column("gateway_id", Text, ForeignKey("gateway.id", ondelete="CASCADE"), nullable=True),
    Column("sites", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    _tz("created_at", nullable=False, server_default=func.now()),
    _tz("revoked_at", nullable=True),
    # Accounting roles (docs/accounting.md) act for these regions and their subtrees.
    Column("regions", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    CheckConstraint(
        "role IN ('gateway', 'operator', 'admin', 'county', 'city', 'province')", name="role"
    ),
)

# point_hour stays a plain table: `ensure_hypertables` partitions on a `ts` column, and a year
# of 500 sites is ~10 M rows, which its primary key serves well enough.
HYPERTABLES: dict[str, str] = {"reading": "7 days", "logger_period": "30 days"}

# Alarms (docs/alarms.md). One row per alarm from raise to clear; at most one open (not cleared)
# alarm per rule and target, enforced by a partial unique index so a restart cannot duplicate.
alarm = Table(
    "alarm",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("rule", Text, nullable=False),
    Column("target", Text, nullable=False),  # "SITE/point/parameter" or "SITE/point"
    Column("channel_id", Integer, nullable=True),
    Column("severity", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("value", Float, nullable=True),  # the value that raised it (mean, reading, seconds)
    Column("threshold", Float, nullable=True),
    Column("message", Text, nullable=False),
    _tz("raised_at", nullable=False),
    _tz("acked_at", nullable=True),
    Column("acked_by", Text, nullable=True),
    Column("ack_comment", Text, nullable=True),
    _tz("cleared_at", nullable=True),
    _tz("last_notified_at", nullable=False),
    Column("notify_count", Integer, nullable=False, server_default=text("1")),
    CheckConstraint("state IN ('active', 'acknowledged', 'cleared')", name="state"),
    CheckConstraint("severity IN ('critical', 'major', 'warning', 'info')", name="severity"),
    Index(
        "ix_alarm_open_rule_target",
        "rule",
        "target",
        unique=True,
        postgresql_where=text("cleared_at IS NULL"),
    ),
    Index("ix_alarm_state", "state"),
)

# Every change of an alarm, in commit order (writers serialise on an advisory lock), so the ids
# are the server-sent event ids a client resumes from. `alarm` holds a snapshot of the alarm.
alarm_event = Table(
    "alarm_event",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("alarm_id", BigInteger, ForeignKey("alarm.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    _tz("at", nullable=False, server_default=func.now()),
    Column("alarm", JSONB, nullable=False),
    CheckConstraint("kind IN ('raised', 'acknowledged', 'cleared', 'renotified')", name="kind"),
    Index("ix_alarm_event_alarm_id", "alarm_id"),
)

AUDIT_REASONS = (
    "maintenance",
    "calibration",
    "instrument_fault",
    "sampling_fault",
    "power_cut",
    "network_fault",
    "shutdown",
    "lab_result",
    "other",
)
_REASON_CHECK = "reason IN (" + ", ".join(f"'{r}'" for r in AUDIT_REASONS) + ")"

# Audit marks (docs/audit.md): a channel's (channel_id set) or a whole point's time range
# declared invalid or valid. Never deleted: revoking sets revoked_at, so the trail stays whole.
audit_mark = Table(
    "audit_mark",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("point_id", Integer, ForeignKey("point.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", Integer, ForeignKey("channel.id", ondelete="CASCADE"), nullable=True),
    _tz("start", nullable=False),
    _tz("end", nullable=False),
    Column("validity", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("comment", Text, nullable=False, server_default=text("''")),
    Column("created_by", Text, nullable=False),
    _tz("created_at", nullable=False, server_default=func.now()),
    _tz("revoked_at", nullable=True),
    Column("revoked_by", Text, nullable=True),
    Column("revoke_comment", Text, nullable=True),
    CheckConstraint("validity IN ('invalid', 'valid')", name="validity"),
    CheckConstraint(_REASON_CHECK, name="reason"),
    CheckConstraint('"end" > start', name="range"),
    Index("ix_audit_mark_point_id_start", "point_id", "start"),
)

# Corrections: a value for one reading (kind value, end = start) or a replacement series for
# [start, end) (kind series); the values are in audit_correction_value. Revoked, never deleted.
audit_correction = Table(
    "audit_correction",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("channel_id", Integer, ForeignKey("channel.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    _tz("start", nullable=False),
    _tz("end", nullable=False),
    Column("reason", Text, nullable=False),
    Column("comment", Text, nullable=False, server_default=text("''")),
    Column("created_by", Text, nullable=False),
    _tz("created_at", nullable=False, server_default=func.now()),
    _tz("revoked_at", nullable=True),
    Column("revoked_by", Text, nullable=True),
    Column("revoke_comment", Text, nullable=True),
    CheckConstraint("kind IN ('value', 'series')", name="kind"),
    CheckConstraint(_REASON_CHECK, name="reason"),
    CheckConstraint(
        "(kind = 'value' AND \"end\" = start) OR (kind = 'series' AND \"end\" > start)",
        name="range",
    ),
    Index("ix_audit_correction_channel_id_start", "channel_id", "start"),
)

audit_correction_value = Table(
    "audit_correction_value",
    metadata,
    Column(
        "correction_id",
        BigInteger,
        ForeignKey("audit_correction.id", ondelete="CASCADE"),
        nullable=False,
    ),
    _tz("ts", nullable=False),
    Column("value", Float, nullable=False),
    PrimaryKeyConstraint("correction_id", "ts"),
)

# Validity per channel and UTC hour (docs/audit.md §4), kept by the rollup with point_hour:
# only hours that received data or were under a shutdown mark have a row.
channel_hour = Table(
    "channel_hour",
    metadata,
    Column("channel_id", Integer, ForeignKey("channel.id", ondelete="CASCADE"), nullable=False),
    _tz("hour", nullable=False),
    Column("received", Boolean, nullable=False),
    Column("n_samples", Integer, nullable=False),
    Column("n_valid", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("cause", Text, nullable=True),  # why not valid: a mark's reason, flag:X, negative
    Column("mark_id", BigInteger, nullable=True),  # the mark behind `cause`, if one
    PrimaryKeyConstraint("channel_id", "hour"),
    CheckConstraint("state IN ('valid', 'invalid', 'shutdown')", name="state"),
)

# `channel_hour` counted per channel and local day of the site (expected hours are the
# reader's: the day's local hours, so a day without a row counts as missing).
channel_day = Table(
    "channel_day",
    metadata,
    Column("channel_id", Integer, ForeignKey("channel.id", ondelete="CASCADE"), nullable=False),
    Column("day", Date, nullable=False),
    Column("received_hours", Integer, nullable=False),
    Column("valid_hours", Integer, nullable=False),
    Column("invalid_hours", Integer, nullable=False),
    Column("shutdown_hours", Integer, nullable=False),
    Column("causes", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("marks", ARRAY(BigInteger), nullable=False, server_default=text("'{}'")),
    PrimaryKeyConstraint("channel_id", "day"),
)

# The annual accounting cycle (docs/accounting.md, revision 0010). An account is one region-year;
# its department inputs are kept with their provenance and never overwritten (a new value
# replaces the old one, which keeps `replaced_at`); every submission is a frozen version.
account = Table(
    "account",
    metadata,
    Column("region_code", Text, ForeignKey("region.code", ondelete="CASCADE"), nullable=False),
    Column("year", SmallInteger, nullable=False),
    Column("state", Text, nullable=False, server_default=text("'draft'")),
    Column("version", Integer, nullable=False, server_default=text("0")),
    _tz("opened_at", nullable=False, server_default=func.now()),
    Column("opened_by", Text, nullable=False),
    _tz("updated_at", nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("region_code", "year"),
    CheckConstraint("state IN ('draft', 'submitted', 'returned', 'approved')", name="state"),
)

account_input = Table(
    "account_input",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("region_code", Text, nullable=False),
    Column("year", SmallInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("value", Float, nullable=False),
    Column("source_department", Text, nullable=False),
    Column("document_ref", Text, nullable=False),
    Column("document_date", Date, nullable=False),
    Column("note", Text, nullable=False, server_default=text("''")),
    Column("entered_by", Text, nullable=False),
    _tz("entered_at", nullable=False, server_default=func.now()),
    _tz("replaced_at", nullable=True),
    ForeignKeyConstraint(
        ["region_code", "year"], ["account.region_code", "account.year"], ondelete="CASCADE"
    ),
    CheckConstraint(
        "kind IN ('urban_population', 'cod_g_per_person_day', 'self_supplied_water_m3', "
        "'self_supplied_cod_mg_l', 'livestock_cod_kg', 'other_cod_kg')",
        name="kind",
    ),
    Index(
        "ix_account_input_current",
        "region_code",
        "year",
        "kind",
        unique=True,
        postgresql_where=text("replaced_at IS NULL"),
    ),
)

account_version = Table(
    "account_version",
    metadata,
    Column("region_code", Text, nullable=False),
    Column("year", SmallInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("snapshot", JSONB, nullable=False),
    _tz("submitted_at", nullable=False, server_default=func.now()),
    Column("submitted_by", Text, nullable=False),
    _tz("decided_at", nullable=True),
    Column("decided_by", Text, nullable=True),
    PrimaryKeyConstraint("region_code", "year", "version"),
    ForeignKeyConstraint(
        ["region_code", "year"], ["account.region_code", "account.year"], ondelete="CASCADE"
    ),
    CheckConstraint("state IN ('submitted', 'returned', 'approved')", name="state"),
)

account_comment = Table(
    "account_comment",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("region_code", Text, nullable=False),
    Column("year", SmallInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("figure", Text, nullable=True),  # None: about the account as a whole
    Column("comment", Text, nullable=False),
    Column("author", Text, nullable=False),
    _tz("at", nullable=False, server_default=func.now()),
    ForeignKeyConstraint(
        ["region_code", "year", "version"],
        ["account_version.region_code", "account_version.year", "account_version.version"],
        ondelete="CASCADE",
    ),
)

# The city's deadline for a year's county accounts, when it differs from the setting.
accounting_deadline = Table(
    "accounting_deadline",
    metadata,
    Column("region_code", Text, ForeignKey("region.code", ondelete="CASCADE"), nullable=False),
    Column("year", SmallInteger, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("set_by", Text, nullable=False),
    _tz("set_at", nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("region_code", "year"),
)

assessment_report = Table(
    "assessment_report",
    metadata,
    Column("region_code", Text, ForeignKey("region.code", ondelete="CASCADE"), nullable=False),
    Column("year", SmallInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("snapshot", JSONB, nullable=False),
    _tz("created_at", nullable=False, server_default=func.now()),
    Column("created_by", Text, nullable=False),
    PrimaryKeyConstraint("region_code", "year", "version"),
)

report_finding = Table(
    "report_finding",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("region_code", Text, nullable=False),  # the city of the report
    Column("year", SmallInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("about_region", Text, nullable=True),
    Column("figure", Text, nullable=True),
    Column("finding", Text, nullable=False),
    Column("author", Text, nullable=False),
    _tz("at", nullable=False, server_default=func.now()),
    ForeignKeyConstraint(
        ["region_code", "year", "version"],
        [
            "assessment_report.region_code",
            "assessment_report.year",
            "assessment_report.version",
        ],
        ondelete="CASCADE",
    ),
)

# 一厂一策: the rectification plan of a plant whose influent was under 260 mg/L in a year.
rectification_plan = Table(
    "rectification_plan",
    metadata,
    Column("site_code", Text, ForeignKey("site.code", ondelete="CASCADE"), nullable=False),
    Column("year", SmallInteger, nullable=False),
    Column("measures", Text, nullable=False),
    Column("responsible_unit", Text, nullable=False),
    Column("deadline", Date, nullable=False),
    Column("status", Text, nullable=False),
    Column("updated_by", Text, nullable=False),
    _tz("updated_at", nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("site_code", "year"),
    CheckConstraint("status IN ('planned', 'in_progress', 'done')", name="status"),
)

# 一区一策: the works of a region's plan, listed per year.
region_work = Table(
    "region_work",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("region_code", Text, ForeignKey("region.code", ondelete="CASCADE"), nullable=False),
    Column("year", SmallInteger, nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("capacity_m3_per_day", Float, nullable=True),
    Column("length_km", Float, nullable=True),
    Column("planned_completion", Date, nullable=False),
    Column("actual_completion", Date, nullable=True),
    Column("updated_by", Text, nullable=False),
    _tz("updated_at", nullable=False, server_default=func.now()),
    CheckConstraint(
        "kind IN ('sewer_network', 'treatment_plant', 'treatment_upgrade', 'other')", name="kind"
    ),
)

# Every step of the cycle: who (the key's name and role), when, what, and what changed.
accounting_event = Table(
    "accounting_event",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _tz("at", nullable=False, server_default=func.now()),
    Column("actor", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("region_code", Text, nullable=False),
    Column("year", SmallInteger, nullable=False),
    Column("subject", Text, nullable=False),
    Column("detail", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Index("ix_accounting_event_region_code", "region_code", "year"),
)

# HJ 212-2025 (docs/hj212.md). SM4 keys per MN: the newest row is the key in force; a
# superseded key is still accepted for the grace period (`hj212_key_grace_days`). The key itself
# is stored here and nowhere else: listings and logs show `key_id`, a fingerprint.
hj212_key = Table(
    "hj212_key",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("mn", Text, nullable=False),
    Column("key_hex", Text, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("origin", Text, nullable=False),  # cli: `wqmon hj212 key set`; platform: CN 1014
    Column("sk_create_time", Text, nullable=True),  # the logger's SKCreateTime of a 1014
    _tz("created_at", nullable=False, server_default=func.now()),
    _tz("superseded_at", nullable=True),
    CheckConstraint("origin IN ('cli', 'platform')", name="origin"),
    CheckConstraint("char_length(key_hex) = 32", name="key_length"),
    Index("ix_hj212_key_mn", "mn", "id"),
)

# Loggers that uploaded their hardware identity (CN 1001) without a registered MN, and what an
# admin assigned them (`wqmon hj212 activate`): the MN goes out in a CN 1002 on their next visit.
hj212_device = Table(
    "hj212_device",
    metadata,
    Column("hardware_id", Text, primary_key=True),  # i23005: the logger's id
    Column("cpu_id", Text, nullable=True),  # i23006
    Column("mac1", Text, nullable=True),  # i23007
    Column("mac2", Text, nullable=True),  # i23008
    Column("reported_mn", Text, nullable=True),  # the MN its 1001 carried
    Column("peer", Text, nullable=False, server_default=text("''")),
    Column("state", Text, nullable=False, server_default=text("'pending'")),
    Column("mn", Text, nullable=True),
    Column("point_id", Integer, ForeignKey("point.id", ondelete="SET NULL"), nullable=True),
    _tz("first_seen_at", nullable=False, server_default=func.now()),
    _tz("last_seen_at", nullable=False, server_default=func.now()),
    _tz("assigned_at", nullable=True),
    _tz("activated_at", nullable=True),
    CheckConstraint("state IN ('pending', 'assigned', 'activated')", name="state"),
)

# The edition each logger last spoke, whether encrypted and with which key, and when it was last
# heard (any packet) or sent a heartbeat (CN 9015): written by the ingest process, read by the API.
hj212_logger = Table(
    "hj212_logger",
    metadata,
    Column("mn", Text, primary_key=True),
    Column("version", Text, nullable=False),  # 2005 | 2017 | 2025
    Column("encrypted", Boolean, nullable=False),
    Column("key_id", Text, nullable=True),
    Column("peer", Text, nullable=False, server_default=text("''")),
    _tz("last_seen_at", nullable=False),
    _tz("last_heartbeat_at", nullable=True),
)

# CN 2062: automatic standard-sample check results per channel (measured value of the standard
# solution, its nominal value, passed or not).
hj212_standard_check = Table(
    "hj212_standard_check",
    metadata,
    Column("channel_id", Integer, nullable=False),
    _tz("ts", nullable=False),
    Column("measured", Float, nullable=True),  # SampleRd
    Column("standard", Float, nullable=True),  # StandardValue
    Column("passed", Boolean, nullable=True),  # ResultType 1 / 0
    Column("result_type", Text, nullable=True),  # as sent
    Column("late", Boolean, nullable=False, server_default=text("false")),
    _tz("received_at", nullable=False),
    PrimaryKeyConstraint("channel_id", "ts"),
)

# Late (RF=1) readings and period records are ordinary rows with source 'hj212-late'.
LATE_SOURCE = "hj212-late"
Index(
    "ix_reading_late",
    reading.c.channel_id,
    reading.c.ts,
    postgresql_where=text(f"source = '{LATE_SOURCE}'"),
)
Index(
    "ix_logger_period_late",
    logger_period.c.channel_id,
    logger_period.c.ts,
    postgresql_where=text(f"source = '{LATE_SOURCE}'"),
)
