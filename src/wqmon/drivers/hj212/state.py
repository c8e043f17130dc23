"""Per-logger state of the HJ 212 server, kept in memory for the API and for gap detection.

One `LoggerState` per MN that ever authenticated (plus driver-wide counters for input that never
got that far). Only the event loop touches it, so there are no locks; readers take `snapshot()`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class LoggerState:
    """What the server knows about one data logger (one MN)."""

    mn: str
    site: str = ""
    point: str = ""
    connected: bool = False
    peer: str = ""  # "ip:port" of the current (or last) connection
    connected_at: datetime | None = None
    last_packet_at: datetime | None = None
    last_restart_at: datetime | None = None  # from a 2081 upload (RestartTime)
    packets: int = 0  # authenticated packets
    uploads: int = 0  # data uploads (2011/2051/2061/2031), split pieces counted once each
    readings: int = 0  # readings newly stored
    duplicates: int = 0  # readings already stored (resends)
    conflicts: int = 0  # of those, resends with another value than the stored one (not stored)
    periods: int = 0  # logger period records stored
    acks: int = 0  # 9014 answers sent
    errors: int = 0  # refused packets, rejected items, unit warnings, write timeouts
    last_error: str = ""
    last_error_at: datetime | None = None
    length_mismatches: int = 0
    modbus_crc: int = 0  # frames carrying the CRC-16/MODBUS variant (accepted)
    version: str = ""  # edition of the last packet: 2005 | 2017 | 2025
    encrypted: bool = False  # whether the last packet was SM4-encrypted
    key_id: str = ""  # id of the key that opened it (never the key)
    heartbeats: int = 0  # CN 9015
    last_heartbeat_at: datetime | None = None

    def error(self, at: datetime, text: str) -> None:
        """Count an error and remember it as the last one."""
        self.errors += 1
        self.last_error = text
        self.last_error_at = at


@dataclass(slots=True)
class LoggerStates:
    """All logger states by MN, and faults of connections that never named a known MN."""

    loggers: dict[str, LoggerState] = field(default_factory=dict)
    connections: int = 0  # open TCP connections
    refused_connections: int = 0  # over the per-peer limit
    faults: dict[str, int] = field(default_factory=dict)  # dead-letter reason -> count

    def get(self, mn: str) -> LoggerState:
        """The state of `mn`, created on first use."""
        state = self.loggers.get(mn)
        if state is None:
            state = self.loggers[mn] = LoggerState(mn)
        return state

    def fault(self, reason: str) -> None:
        """Count input refused before it could be tied to a logger (or refused for its MN)."""
        self.faults[reason] = self.faults.get(reason, 0) + 1

    @property
    def connected(self) -> list[str]:
        """MNs with an open connection."""
        return [mn for mn, s in self.loggers.items() if s.connected]

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy for the API and the metrics endpoint."""
        return {
            "connections": self.connections,
            "refused_connections": self.refused_connections,
            "faults": dict(self.faults),
            "loggers": {mn: _jsonable(asdict(s)) for mn, s in self.loggers.items()},
        }


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
