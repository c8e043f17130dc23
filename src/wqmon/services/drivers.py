"""Which drivers `wqmon ingest` runs, decided from the settings."""

from __future__ import annotations

from wqmon.drivers.base import Driver
from wqmon.settings import Settings


def build_drivers(settings: Settings) -> list[Driver]:
    """The drivers enabled by the settings (HJ 212 server, MQTT subscriber, ...)."""
    drivers: list[Driver] = []
    if settings.hj212_enabled:
        from wqmon.drivers.hj212.server import Hj212Driver  # noqa: PLC0415 - only when used

        drivers.append(Hj212Driver())
    if settings.mqtt_url:
        from wqmon.drivers.mqtt.driver import MqttDriver  # noqa: PLC0415 - paho only when used

        drivers.append(MqttDriver())
    if settings.modbus_enabled:
        # Always built when enabled: it polls what the registry binds, now or after a reload.
        from wqmon.drivers.modbus.driver import ModbusDriver  # noqa: PLC0415 - pymodbus when used

        drivers.append(ModbusDriver())
    return drivers
