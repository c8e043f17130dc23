"""The aggregate rules' bookkeeping: which hours of which point ended and are due for evaluation.

The live path only *notes* that a point's data moved on (`note`, a dict update per point and
batch); the hours are evaluated later by the engine's hour task, which reads the stored readings
back on a connection of its own. The live rules therefore never wait behind an hour's database
reads and integration (profiled: more than half of the engine's time under the latency bench was
hour evaluations, and the probes queued behind them made the p99).

Hours are coalesced per point: however many batches noted a point, one pass evaluates every
hour that ended since the last pass (at most `MAX_CATCHUP_HOURS`, as before).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from wqmon.alarms.aggregate import flow_weighted_means
from wqmon.alarms.channels import PointSpec
from wqmon.alarms.config import AlarmConfig, Rule
from wqmon.alarms.rules import COD, Finding, hour_exceedance, low_influent

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MAX_CATCHUP_HOURS = 6  # a backfill evaluates at most this many past hours of a point at once

PointKey = tuple[str, str]


def floor_hour(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(slots=True)
class HourBook:
    """Per point: the newest data time seen, hours evaluated up to, and what is due."""

    grace: timedelta
    point_last: dict[PointKey, datetime] = field(default_factory=dict)
    evaluated: dict[PointKey, datetime] = field(default_factory=dict)
    due: dict[PointKey, datetime] = field(default_factory=dict)
    # Hours that ended but received late (RF=1) data: evaluated again with what is stored now.
    revisits: dict[PointKey, set[datetime]] = field(default_factory=dict)

    def revisit(self, key: PointKey, ts: datetime) -> None:
        """Late data arrived for `ts`: its hour is evaluated again once it has ended."""
        hour = floor_hour(ts)
        done = self.evaluated.get(key)
        if done is not None and hour < done:
            self.revisits.setdefault(key, set()).add(hour)

    def note(self, key: PointKey, newest: datetime) -> None:
        """A committed batch carried data of the point up to `newest` (reading time)."""
        if newest > self.point_last.get(key, newest - HOUR):
            self.point_last[key] = newest
        self._due(key, newest - self.grace)

    def note_clock(self, now: datetime) -> None:
        """The clock passed: hours of quiet points end without newer data."""
        for key, last in self.point_last.items():
            self._due(key, min(now - self.grace, floor_hour(last) + HOUR))

    def _due(self, key: PointKey, upto: datetime) -> None:
        if upto > self.due.get(key, upto - HOUR):
            self.due[key] = upto

    def take(self) -> Iterator[tuple[PointKey, list[datetime]]]:
        """Per due point, the starts of the hours that ended and were not evaluated yet.

        A point seen for the first time starts its record at its current hour: the engine does
        not judge hours that ended before it watched the point (a restart re-reads none).
        """
        revisits, self.revisits = self.revisits, {}
        due, self.due = self.due, {}
        for key, upto in due.items():
            end = floor_hour(upto)
            done = self.evaluated.get(key)
            late = sorted(revisits.pop(key, ()))
            if done is None or end <= done:
                self.evaluated.setdefault(key, end)
                if late:
                    yield key, late
                continue
            self.evaluated[key] = end
            hour = max(done, end - MAX_CATCHUP_HOURS * HOUR)
            hours = [h for h in late if h < hour]
            while hour < end:
                hours.append(hour)
                hour += HOUR
            yield key, hours
        for key, late_hours in revisits.items():
            yield key, sorted(late_hours)


async def hour_findings(
    conn: psycopg.AsyncConnection[Any], point: PointSpec, hour: datetime, config: AlarmConfig
) -> list[Finding]:
    """The aggregate rules' findings for one ended hour of a point with a flow channel."""
    if point.flow is None or not point.pollutants:
        return []
    findings: list[Finding | None] = []
    limited = {s.parameter.code: s for s in point.pollutants if s.limited}
    if limited:
        means = await flow_weighted_means(
            conn, point.flow, {c: s.id for c, s in limited.items()}, start=hour, end=hour + HOUR
        )
        for code, spec in limited.items():
            mean, coverage = means[code]
            findings.append(hour_exceedance(spec, hour, mean, coverage, config))
    findings.extend(await _influent_findings(conn, point, hour + HOUR, config))
    return [f for f in findings if f is not None]


async def _influent_findings(
    conn: psycopg.AsyncConnection[Any], point: PointSpec, end: datetime, config: AlarmConfig
) -> list[Finding | None]:
    """Inlet COD: the trailing 24 h every hour, and the site's local day when one ends."""
    cod = next((s for s in point.pollutants if s.parameter.code == COD), None)
    if point.role != "inlet" or cod is None or point.flow is None:
        return []
    means = await flow_weighted_means(conn, point.flow, {COD: cod.id}, start=end - DAY, end=end)
    mean, coverage = means[COD]
    findings = [
        low_influent(
            cod, Rule.LOW_INFLUENT_24H, end=end, mean=mean, coverage=coverage, config=config
        )
    ]
    local_end = end.astimezone(point.timezone)
    if local_end.hour == 0 and local_end.minute == 0:
        day_start = (local_end - DAY).replace(hour=0).astimezone(UTC)
        if day_start != end - DAY:  # a day of daylight-saving change
            means = await flow_weighted_means(
                conn, point.flow, {COD: cod.id}, start=day_start, end=end
            )
            mean, coverage = means[COD]
        findings.append(
            low_influent(
                cod, Rule.LOW_INFLUENT_DAY, end=end, mean=mean, coverage=coverage, config=config
            )
        )
    return findings
