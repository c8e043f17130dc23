"""The in-memory view of the registry that ingest needs on its hot path.

Loaded from the database at start and reloaded periodically, it answers in O(1): which channel is
(site, point, parameter), which point an HJ 212 MN belongs to (with its password and time zone),
which sites a gateway may write, and which Modbus devices to poll for which channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from wqmon.ingest.directory_modbus import load_modbus
from wqmon.parameters import Parameter, by_code, lookup
from wqmon.protocol.modbus.config import ModbusConfig


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """One channel: a parameter measured at a monitoring point of a site."""

    id: int
    site: str
    point: str
    role: str
    parameter: Parameter


@dataclass(frozen=True, slots=True)
class PointInfo:
    """A monitoring point as HJ 212 sees it: the MN that reports for it and its settings."""

    site: str
    point: str
    role: str
    timezone: ZoneInfo
    hj212_mn: str | None
    hj212_password: str | None
    hj212_options: dict[str, Any]
    parameters: frozenset[str]  # canonical codes of its channels


@dataclass(frozen=True, slots=True)
class Directory:
    """A consistent snapshot of channels, points and gateway scopes."""

    channels: dict[tuple[str, str, str], ChannelInfo] = field(default_factory=dict)
    points_by_mn: dict[str, PointInfo] = field(default_factory=dict)
    gateway_sites: dict[str, frozenset[str]] = field(default_factory=dict)
    modbus: ModbusConfig = field(default_factory=ModbusConfig)  # buses and device bindings
    _resolved: dict[tuple[str, str, str], ChannelInfo] = field(
        default_factory=dict, compare=False, repr=False
    )
    # (site, point, parameter, unit) -> (conversion factor, lowest, highest accepted, channel
    # id), filled by validation (`wqmon.ingest.columns`) for channels that resolve: a channel
    # is resolved once per registry load, not once per envelope.
    _limits: dict[tuple[str, str, str, str | None], tuple[float, float, float, int]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def channel(self, site: str, point: str, parameter_code: str) -> ChannelInfo | None:
        return self.channels.get((site, point, parameter_code))

    def resolve(self, site: str, point: str, parameter: str) -> ChannelInfo | None:
        """The channel for a parameter named as a source names it (alias, code, old code),
        memoised: a source repeats the same few names in every message."""
        key = (site, point, parameter)
        found = self._resolved.get(key)
        if found is None:
            param = lookup(parameter)
            found = None if param is None else self.channels.get((site, point, param.code))
            if found is not None:
                self._resolved[key] = found
        return found

    def limits_memo(
        self,
    ) -> dict[tuple[str, str, str, str | None], tuple[float, float, float, int]]:
        """This snapshot's memo of validation limits per source name (see `_limits`)."""
        return self._limits

    def point_for_mn(self, mn: str) -> PointInfo | None:
        return self.points_by_mn.get(mn)

    def sites_of_gateway(self, gateway: str) -> frozenset[str] | None:
        """The sites a gateway may write, or None when the gateway is not registered."""
        return self.gateway_sites.get(gateway)


_CHANNELS_SQL = """
SELECT c.id, s.code, p.code, p.role, c.parameter
FROM channel c JOIN point p ON p.id = c.point_id JOIN site s ON s.id = p.site_id
WHERE c.active AND s.active
"""
_POINTS_SQL = """
SELECT s.code, p.code, p.role, s.timezone, p.hj212_mn, p.hj212_password, p.hj212_options,
       coalesce(array_agg(c.parameter) FILTER (WHERE c.id IS NOT NULL), '{}')
FROM point p JOIN site s ON s.id = p.site_id
LEFT JOIN channel c ON c.point_id = p.id AND c.active
WHERE s.active GROUP BY s.code, p.code, p.role, s.timezone, p.hj212_mn, p.hj212_password,
      p.hj212_options
"""
_GATEWAYS_SQL = """
SELECT g.id, coalesce(array_agg(s.code) FILTER (WHERE s.code IS NOT NULL), '{}')
FROM gateway g LEFT JOIN gateway_site gs ON gs.gateway_id = g.id
LEFT JOIN site s ON s.id = gs.site_id AND s.active
WHERE g.active GROUP BY g.id
"""


async def load_directory(conn: psycopg.AsyncConnection[Any]) -> Directory:
    """Read the registry tables into a new snapshot."""
    channels: dict[tuple[str, str, str], ChannelInfo] = {}
    for cid, site, point, role, code in await (await conn.execute(_CHANNELS_SQL)).fetchall():
        channels[(site, point, code)] = ChannelInfo(cid, site, point, role, by_code(code))
    points: dict[str, PointInfo] = {}
    for site, point, role, tz, mn, pw, options, params in await (
        await conn.execute(_POINTS_SQL)
    ).fetchall():
        if mn:
            points[mn] = PointInfo(
                site, point, role, ZoneInfo(tz), mn, pw, options, frozenset(params)
            )
    gateways = {
        gid: frozenset(sites) for gid, sites in await (await conn.execute(_GATEWAYS_SQL)).fetchall()
    }
    return Directory(channels, points, gateways, await load_modbus(conn))
