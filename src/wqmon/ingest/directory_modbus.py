"""The Modbus part of the ingest directory, read from the registry tables.

`load_modbus` reads the active buses (`modbus_bus`) and the device bindings of active points
(`point.modbus`, written by `wqmon registry import` with each map already resolved to parameter
codes) into a `ModbusConfig`.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from wqmon.protocol.modbus.config import BusConfig, DeviceBinding, ModbusConfig

log = logging.getLogger(__name__)

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
