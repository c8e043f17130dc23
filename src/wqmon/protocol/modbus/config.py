"""What the Modbus driver polls, as loaded from the registry tables.

Plain data, no I/O: `wqmon.ingest.directory_modbus` fills a `ModbusConfig` from the registry
tables and the ingest directory carries it; the driver compares snapshots to notice reloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

SERIAL_MESSAGE_WAIT_S = 0.03  # RS-485 turnaround between transactions (Home Assistant's default)


class Transport(StrEnum):
    """How Modbus frames reach the devices."""

    TCP = "tcp"  # Modbus TCP (MBAP header)
    RTU = "rtu"  # RTU frames on a serial line (RS-485/RS-232)
    RTU_OVER_TCP = "rtu_over_tcp"  # RTU frames through a transparent serial-to-Ethernet server


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
