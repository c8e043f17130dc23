"""The registry as the alarm engine sees it: channels with limits and rule figures, by point."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from wqmon.alarms.config import AlarmConfig
from wqmon.alarms.rules import ChannelSpec
from wqmon.parameters import Kind, by_code

_CHANNELS = """
SELECT c.id, s.code, p.code, p.role, c.parameter, c.limit_value, c.limit_min, s.timezone
FROM channel c JOIN point p ON p.id = c.point_id JOIN site s ON s.id = p.site_id
WHERE c.active AND s.active
"""
# A loose index scan per channel on the (channel_id, ts) key: cheap on a large hypertable.
_LAST_TS = """
SELECT c.id, (SELECT max(r.ts) FROM reading r WHERE r.channel_id = c.id)
FROM channel c WHERE c.active
"""


@dataclass(slots=True)
class PointSpec:
    """A monitoring point: its flow channel and pollutant (analyser) channels."""

    site: str
    point: str
    role: str
    timezone: ZoneInfo
    flow: int | None = None
    pollutants: list[ChannelSpec] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.site, self.point)


@dataclass(frozen=True, slots=True)
class AlarmRegistry:
    channels: dict[int, ChannelSpec]
    points: dict[tuple[str, str], PointSpec]


async def load_registry(conn: psycopg.AsyncConnection[Any], config: AlarmConfig) -> AlarmRegistry:
    channels: dict[int, ChannelSpec] = {}
    points: dict[tuple[str, str], PointSpec] = {}
    for cid, site, point, role, code, lmax, lmin, tz in await (
        await conn.execute(_CHANNELS)
    ).fetchall():
        param = by_code(code)
        zone = ZoneInfo(tz)
        spec = ChannelSpec(
            cid, site, point, role, param, lmax, lmin, zone, config.for_channel(site, point, param)
        )
        channels[cid] = spec
        ps = points.setdefault((site, point), PointSpec(site, point, role, zone))
        if param.kind is Kind.FLOW:
            ps.flow = cid
        elif param.kind is Kind.CONCENTRATION:
            ps.pollutants.append(spec)
    return AlarmRegistry(channels, points)


async def last_times(conn: psycopg.AsyncConnection[Any]) -> dict[int, datetime]:
    """The newest reading time of every active channel that ever reported."""
    rows = await (await conn.execute(_LAST_TS)).fetchall()
    return {int(cid): ts.astimezone(UTC) for cid, ts in rows if ts is not None}
