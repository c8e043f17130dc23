"""Pure drivers of the alarm rules for table-driven tests: readings in, transitions out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from wqmon.alarms.config import AlarmConfig, Rule
from wqmon.alarms.lifecycle import Tracker, Transition
from wqmon.alarms.rules import ChannelSpec, ChannelState, Finding, on_reading
from wqmon.model import Reading
from wqmon.parameters import resolve

T0 = datetime(2025, 6, 1, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def spec(
    alias: str = "cod",
    role: str = "outlet",
    limit_max: float | None = 50.0,
    limit_min: float | None = None,
    config: AlarmConfig | None = None,
) -> ChannelSpec:
    param = resolve(alias)
    rules = (config or AlarmConfig()).for_channel("S", "p", param)
    return ChannelSpec(1, "S", "p", role, param, limit_max, limit_min, SHANGHAI, rules)


def reading(minute: float, value: float, flag: str = "N") -> Reading:
    ts = T0 + timedelta(minutes=minute)
    return Reading(1, ts, value, flag, "test", ts)


@dataclass
class Harness:
    """One channel's live rules feeding trackers, as the engine does, without a database."""

    spec: ChannelSpec
    config: AlarmConfig = field(default_factory=AlarmConfig)
    state: ChannelState = field(default_factory=ChannelState)
    trackers: dict[tuple[Rule, str], Tracker] = field(default_factory=dict)

    def observe(self, finding: Finding) -> Transition | None:
        tracker = self.trackers.setdefault((finding.rule, finding.target), Tracker())
        return tracker.observe(finding.verdict, finding.at, self.config.policy(finding.rule))

    def feed(self, readings: list[Reading], rule: Rule) -> list[tuple[float, str]]:
        """(minute, 'raised'|'cleared') of `rule`'s transitions over the readings."""
        out = []
        for r in readings:
            for finding in on_reading(self.spec, self.state, r, self.config):
                transition = self.observe(finding)
                if transition is not None and finding.rule is rule:
                    minute = (finding.at - T0).total_seconds() / 60
                    out.append((minute, transition.value))
        return out


def series(
    values: list[float], every_min: float, start_min: float = 0, flag: str = "N"
) -> list[Reading]:
    return [reading(start_min + i * every_min, v, flag) for i, v in enumerate(values)]
