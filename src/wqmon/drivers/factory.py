"""Which drivers `wqmon ingest` runs, decided from the settings."""

from __future__ import annotations

from wqmon.drivers.base import Driver
from wqmon.settings import Settings


def build_drivers(settings: Settings) -> list[Driver]:  # noqa: ARG001 - drivers register here
    """The drivers enabled by the settings (HJ 212 server, MQTT subscriber, ...)."""
    return []
