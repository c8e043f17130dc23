"""What the Modbus driver polls, as loaded from the registry tables.

`load_modbus` reads the active buses (`modbus_bus`) and the device bindings of active points
(`point.modbus`, written by `wqmon registry import` with each map already resolved to parameter
codes) into a `ModbusConfig`, which the ingest directory carries; the driver compares snapshots
to notice registry reloads. Plain data, no pymodbus: the directory imports this module.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

log = logging.getLogger(__name__)

SERIAL_MESSAGE_WAIT_S = 0.03  # RS-485 turnaround between transactions (Home Assistant's default)


@dataclass(frozen=True, slots=True)
class BusConfig:
    """One Modbus line or endpoint."""

    id: str
    transport: str  # tcp | rtu | rtu_over_tcp
    host: str | None = "127.0.0.1"
    port: int = 502
    serial_port: str | None = None
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    timeout_s: float = 1.0
    retries: int = 1
    message_wait_s: float = 0.0
    poll_interval_s: float = 10.0


@dataclass(frozen=True, slots=True)
class DeviceBinding:
    """One device on a bus feeding channels of one monitoring point.

    `points` maps profile point names to canonical parameter codes. `store_unchanged` None means
    by parameter kind: every poll of flow and totalisers, only changes of analyser values.
    """

    site: str
    point: str
    timezone: str
    bus: str
    device_id: int
    profile: str
    points: tuple[tuple[str, str], ...]
    poll_interval_s: float | None = None
    store_unchanged: bool | None = None
    on_failure: str = "flag_b"  # flag_b | silent

    @property
    def key(self) -> str:
        """`bus/device_id`: unique in a registry, the name of the device's state."""
        return f"{self.bus}/{self.device_id}"


@dataclass(frozen=True, slots=True)
class ModbusConfig:
    """Every active bus and binding; equal snapshots mean nothing to restart."""

    buses: Mapping[str, BusConfig] = field(default_factory=dict)
    devices: tuple[DeviceBinding, ...] = ()


_BUSES_SQL = """
SELECT id, transport, host, port, serial_port, baudrate, bytesize, parity, stopbits, timeout_s,
       retries, message_wait_ms, poll_interval_s
FROM modbus_bus WHERE active ORDER BY id
"""
_BINDINGS_SQL = """
SELECT s.code, p.code, s.timezone, p.modbus
FROM point p JOIN site s ON s.id = p.site_id
WHERE s.active AND p.modbus <> '[]'::jsonb ORDER BY s.code, p.code
"""


def _bus(row: tuple[Any, ...]) -> BusConfig:
    (
        bus_id,
        transport,
        host,
        port,
        serial,
        baud,
        size,
        parity,
        stop,
        timeout,
        retries,
        wait,
        poll,
    ) = row
    return BusConfig(
        bus_id,
        transport,
        host,
        port,
        serial,
        baud,
        size,
        parity,
        stop,
        timeout,
        retries,
        wait / 1000,
        poll,
    )


def _binding(site: str, point: str, tz: str, entry: dict[str, Any]) -> DeviceBinding:
    return DeviceBinding(
        site=site,
        point=point,
        timezone=tz,
        bus=entry["bus"],
        device_id=int(entry["device_id"]),
        profile=entry["profile"],
        points=tuple(sorted(entry["map"].items())),
        poll_interval_s=entry.get("poll_interval_s"),
        store_unchanged=entry.get("store_unchanged"),
        on_failure=entry.get("on_failure", "flag_b"),
    )


async def load_modbus(conn: psycopg.AsyncConnection[Any]) -> ModbusConfig:
    """Read the active buses and the bindings of active points on them."""
    buses = {row[0]: _bus(row) for row in await (await conn.execute(_BUSES_SQL)).fetchall()}
    devices: list[DeviceBinding] = []
    for site, point, tz, entries in await (await conn.execute(_BINDINGS_SQL)).fetchall():
        for entry in entries:
            binding = _binding(site, point, tz, entry)
            if binding.bus in buses:
                devices.append(binding)
            else:
                log.warning("%s/%s: Modbus bus %r is not active", site, point, binding.bus)
    return ModbusConfig(buses, tuple(devices))
