"""Settings: environment variables with the `WQMON_` prefix, optionally a `wqmon.toml` file.

Precedence: explicit arguments > environment > `wqmon.toml` (path from `WQMON_CONFIG`, default
`./wqmon.toml`) > defaults. Unknown keys in the file are an error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

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

    hj212_host: str = "0.0.0.0"  # noqa: S104 - a listener for field loggers is meant to be reachable
    hj212_port: int = Field(9212, ge=0, le=65535)
    hj212_enabled: bool = True

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


def sqlalchemy_url(database_url: str) -> str:
    """The SQLAlchemy form of a libpq URL, using the psycopg 3 dialect."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


def libpq_url(database_url: str) -> str:
    """The libpq form of a URL that may carry a SQLAlchemy dialect."""
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)
