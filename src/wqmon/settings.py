"""Settings: environment variables with the `WQMON_` prefix, optionally a `wqmon.toml` file.

Precedence: explicit arguments > environment > `wqmon.toml` (path from `WQMON_CONFIG`, default
`./wqmon.toml`) > defaults. Unknown keys in the file are an error.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """All runtime settings of wqmon; each field is `WQMON_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="WQMON_", extra="forbid", frozen=True)

    database_url: str = "postgresql://postgres@127.0.0.1:5432/wqmon"
    # auto: hypertables when TimescaleDB is available; require: fail without it; off: plain tables.
    timescale: Literal["auto", "require", "off"] = "auto"

    mqtt_url: str | None = None  # mqtt://user:pass@host:1883 or mqtts://...; None = no MQTT driver
    mqtt_client_id: str = "wqmon-ingest"
    mqtt_shared_group: str | None = None  # MQTT 5 shared subscription group for replicas
    mqtt_topic: str = "wqmon/v1/+/readings"
    mqtt_session_expiry_s: int = Field(7 * 24 * 3600, ge=0)  # broker keeps our queue this long
    mqtt_receive_maximum: int = Field(2000, ge=1, le=65535)  # unacknowledged messages in flight
    mqtt_ca_file: str | None = None  # CA bundle for mqtts:// (system store when unset)
    mqtt_cert_file: str | None = None  # client certificate for mutual TLS
    mqtt_key_file: str | None = None

    hj212_host: str = "0.0.0.0"  # noqa: S104 - a listener for field loggers is meant to be reachable
    hj212_port: int = Field(9212, ge=0, le=65535)
    hj212_enabled: bool = True
    # Poll the Modbus devices bound in the registry (the driver idles while there are none).
    modbus_enabled: bool = True
    hj212_idle_timeout_s: float = Field(600.0, gt=0)  # close a connection silent this long
    hj212_write_timeout_s: float = Field(10.0, gt=0)  # a peer that does not read is dropped
    hj212_max_segment: int = Field(4096, ge=1024)  # bytes; the standard says 1024, reality 1703
    hj212_max_connections_per_peer: int = Field(100, ge=1)  # loggers share carrier NAT addresses
    # Listen backlog (capped by net.core.somaxconn): a province's loggers reconnect together.
    hj212_backlog: int = Field(4096, ge=1)
    hj212_max_faults_per_connection: int = Field(50, ge=1)  # then the connection is closed
    hj212_reassembly_timeout_s: float = Field(60.0, gt=0)  # split uploads (PNUM/PNO)
    hj212_reply_timeout_s: float = Field(30.0, gt=0)  # a logger's 9011 to our request
    hj212_history_timeout_s: float = Field(600.0, gt=0)  # its 9012 after a history upload
    hj212_gap_fill_after_s: float = Field(3600.0, ge=0)  # silence that triggers a 2061 pull; 0 off
    hj212_command_poll_s: float = Field(30.0, gt=0)  # hj212_command table poll besides NOTIFY
    # HJ 212-2025 keys: a rotated-out key stays accepted this long; keys changed elsewhere are
    # looked for this often (one query for all MNs; a packet no cached key opens re-reads at once).
    hj212_key_grace_days: float = Field(7.0, ge=0)
    hj212_key_refresh_s: float = Field(30.0, gt=0)

    # Sources without settings of their own (docs/drivers.md): {"name": {option: value}}, e.g.
    # WQMON_DRIVERS='{"line_udp": {"port": 8094}}'; a name present enables that driver.
    drivers: dict[str, dict[str, Any]] = Field(default_factory=dict)

    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=0, le=65535)
    api_key: SecretStr | None = None

    # Pipeline: queue bound in envelopes, batch bound in readings, linger in seconds.
    queue_size: int = Field(256, gt=0)
    batch_size: int = Field(10_000, gt=0)
    batch_linger_s: float = Field(0.1, gt=0)
    writers: int = Field(1, ge=1, le=8)
    future_tolerance_s: float = Field(300.0, ge=0)
    valid_flags: list[str] = Field(default_factory=lambda: ["N", "T"])
    registry_reload_s: float = Field(30.0, gt=0)
    metrics_port: int | None = Field(None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 in a container, for Prometheus to scrape

    # Rollup recomputation: in a child process of ingest (default), inline, or off.
    rollup_mode: Literal["process", "inline", "off"] = "process"

    # The local durable spool used while the database is unreachable (docs/contracts.md §2).
    spool_enabled: bool = True
    spool_dir: Path | None = None  # default: $XDG_STATE_HOME/wqmon/spool/<database hash>
    spool_max_bytes: int = Field(1024**3, gt=0)

    # Alarms (docs/alarms.md): the engine runs in `wqmon ingest`; figures per rule in
    # wqmon.alarms.config, overridable per point ("SITE/point") or channel ("SITE/point/alias")
    # with e.g. {"WWTP-01/inlet/cod": {"no_data_s": 7200, "disabled": ["flat_line"]}}.
    # The annual accounting cycle (docs/accounting.md): submissions are due on this month-day
    # of the following year; actions are inferred only above this inlet load coverage.
    accounting_deadline: str = Field("04-30", pattern=r"^\d{2}-\d{2}$")
    accounting_min_coverage: float = Field(0.5, ge=0, le=1)
    # Headless Chromium for the assessment report's PDF; unset or missing: no PDF (HTML prints).
    accounting_chromium: str | None = "/usr/bin/chromium"
    alarm_enabled: bool = True
    # process: the engine runs in a child of ingest (off ingest's GIL); inline: in ingest itself.
    alarm_mode: Literal["process", "inline"] = "process"
    alarm_queue_size: int = Field(1000, gt=0)  # committed batches waiting for the engine
    alarm_tick_s: float = Field(5.0, gt=0)  # clock for no-data, pending hours, re-notify
    alarm_renotify_s: float = Field(3600.0, gt=0)  # re-notify unacknowledged open alarms
    alarm_low_influent_mg_l: float = Field(260.0, gt=0)
    alarm_live_exceedance_delay_s: float = Field(1800.0, ge=0)
    alarm_no_data_continuous_s: float = Field(1800.0, gt=0)  # flow, pH, temperature
    alarm_no_data_analyser_s: float = Field(4 * 3600.0, gt=0)  # COD, NH3-N, TP, TN
    # Readings received later than this after their time are late (backfill, replay, re-sent
    # history): no live alarm opens or closes on them; hour and day rules still see them.
    alarm_live_window_continuous_s: float = Field(600.0, gt=0)
    alarm_live_window_analyser_s: float = Field(3 * 3600.0, gt=0)  # a result comes 1–2 h late
    alarm_overrides: dict[str, dict[str, float | list[str]]] = Field(default_factory=dict)
    # Per rule: {"implausible": {"delay_s": 0, "clear_delay_s": 600}}
    alarm_policy_overrides: dict[str, dict[str, float]] = Field(default_factory=dict)
    alarm_webhook_urls: list[str] = Field(default_factory=list)
    alarm_webhook_secret: SecretStr | None = None
    alarm_webhook_max_attempts: int = Field(6, ge=1)
    alarm_webhook_backoff_s: float = Field(0.5, gt=0)

    # Coverage of the monitoring policy (docs/audit.md §5): `wqmon compliance`, /compliance.
    compliance_min_plant_m3_per_day: float = Field(500.0, ge=0)
    compliance_min_enterprise_m3_per_day: float = Field(500.0, ge=0)
    compliance_silence_s: float = Field(24 * 3600.0, gt=0)  # a required channel reported within
    compliance_window_days: int = Field(7, ge=1, le=366)  # transmission rate measured over
    compliance_min_transmission_rate: float = Field(0.9, ge=0, le=1)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - not used: no .env files
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("WQMON_CONFIG", "wqmon.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_path))


def spool_folder(settings: Settings, role: str) -> Path | None:
    """Where a process (`ingest`, `api`) spools, or None when the spool is off.

    The default folder is keyed by the database URL, so that two deployments (or two test
    databases) on one machine never replay each other's batches.
    """
    if not settings.spool_enabled:
        return None
    if settings.spool_dir is not None:
        return settings.spool_dir / role
    state_home = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    key = hashlib.sha256(libpq_url(settings.database_url).encode()).hexdigest()[:16]
    return state_home / "wqmon" / "spool" / key / role


def sqlalchemy_url(database_url: str) -> str:
    """The SQLAlchemy form of a libpq URL, using the psycopg 3 dialect."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


def libpq_url(database_url: str) -> str:
    """The libpq form of a URL that may carry a SQLAlchemy dialect."""
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)
