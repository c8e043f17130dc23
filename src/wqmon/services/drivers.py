"""Which drivers `wqmon ingest` runs: one registration line per source (docs/drivers.md).

Each entry is (enabled?, "module:function"). The function — the driver module's
`from_settings(settings)`, which builds the driver's config and the driver — is imported only
when the source is enabled, so paho-mqtt or pymodbus load only in a process that uses them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from wqmon.ingest.contract import Driver
from wqmon.settings import Settings

Enabled = Callable[[Settings], bool]
Factory = Callable[[Settings], Driver]

REGISTRY: tuple[tuple[Enabled, str], ...] = (
    (lambda s: s.hj212_enabled, "wqmon.drivers.hj212.server:from_settings"),
    (lambda s: s.mqtt_url is not None, "wqmon.drivers.mqtt.driver:from_settings"),
    # Always built when enabled: it polls what the registry binds, now or after a reload.
    (lambda s: s.modbus_enabled, "wqmon.drivers.modbus.driver:from_settings"),
    (lambda s: "line_udp" in s.drivers, "wqmon.drivers.line_udp.driver:from_settings"),
)


def load_factory(target: str) -> Factory:
    """Import `module:function` (only now: the module may import a heavy client library)."""
    module, _, name = target.partition(":")
    return cast("Factory", getattr(importlib.import_module(module), name))


def build_drivers(settings: Settings) -> list[Driver]:
    """The drivers enabled by the settings, in registration order."""
    return [load_factory(target)(settings) for enabled, target in REGISTRY if enabled(settings)]
