"""`WQMON_MQTT_URL` parsed into a broker address: shared by the MQTT driver and the simulators."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from wqmon.errors import ConfigError


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker is and how to log in, parsed from `WQMON_MQTT_URL`."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_mqtt_url(url: str) -> BrokerAddress:
    """`mqtt://user:pass@host:1883` or `mqtts://host:8883`."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ConfigError(
            f"WQMON_MQTT_URL: unsupported scheme {parts.scheme!r} (use mqtt:// or mqtts://)"
        )
    if not parts.hostname:
        raise ConfigError(f"WQMON_MQTT_URL: no host in {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    return BrokerAddress(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )
