"""The MQTT subscriber's configuration, taken from the `WQMON_MQTT_*` settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from wqmon.errors import ConfigError
from wqmon.protocol.mqtt_url import BrokerAddress, parse_mqtt_url
from wqmon.settings import Settings


class MqttConfig(BaseModel):
    """Broker, session and TLS of the MQTT driver (meanings: `wqmon.settings`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str  # mqtt://user:pass@host:1883 or mqtts://...
    client_id: str = "wqmon-ingest"
    shared_group: str | None = None
    topic: str = "wqmon/v1/+/readings"
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0)
    receive_maximum: int = Field(2000, ge=1, le=65535)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> MqttConfig:
        """The `WQMON_MQTT_*` settings.

        Raises:
            ConfigError: `WQMON_MQTT_URL` is unset (the driver is only built when it is set).
        """
        if settings.mqtt_url is None:
            raise ConfigError("WQMON_MQTT_URL is not set: there is no broker to subscribe to")
        return cls(
            url=settings.mqtt_url,
            client_id=settings.mqtt_client_id,
            shared_group=settings.mqtt_shared_group,
            topic=settings.mqtt_topic,
            session_expiry_s=settings.mqtt_session_expiry_s,
            receive_maximum=settings.mqtt_receive_maximum,
            ca_file=settings.mqtt_ca_file,
            cert_file=settings.mqtt_cert_file,
            key_file=settings.mqtt_key_file,
        )

    @property
    def address(self) -> BrokerAddress:
        """The broker's host, port, credentials and whether to use TLS."""
        return parse_mqtt_url(self.url)
