"""The alarm rules as pure functions: readings and aggregates in, `Finding`s out.

A finding is one rule's verdict on one target at one instant; the lifecycle (`Tracker`) turns
runs of findings into raised and cleared alarms. Live rules keep a little state per channel
(`ChannelState`), updated reading by reading in time order. Readings with an invalid flag say
nothing about the water, so the value rules skip them (the instrument-state rule reads them).

Time: data rules use the reading's timestamp, so a backfill is judged as it happened; the
no-data rule uses the clock, because silence has no timestamp.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from wqmon.alarms.config import AlarmConfig, ChannelRules, Rule
from wqmon.alarms.lifecycle import Verdict, above, below, within
from wqmon.flags import DEFAULT_VALID_FLAGS, INSTRUMENT_STATE_FLAGS
from wqmon.model import Reading
from wqmon.parameters import Kind, Parameter

LIMITED_ROLES = frozenset({"outlet", "discharge"})
# The rules `on_reading` runs, each with a target of one channel.
LIVE_RULES = frozenset(
    {Rule.INSTRUMENT_STATE, Rule.EXCEEDANCE_LIVE, Rule.IMPLAUSIBLE, Rule.FLAT_LINE}
)
COD = "w01018"


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A channel as the alarm rules see it: registry facts plus its rule figures."""

    id: int
    site: str
    point: str
    role: str
    parameter: Parameter
    limit_max: float | None
    limit_min: float | None
    timezone: ZoneInfo
    rules: ChannelRules
    target: str = ""  # "SITE/point/alias", filled in once (it is read for every finding)

    def __post_init__(self) -> None:
        if not self.target:
            object.__setattr__(self, "target", f"{self.site}/{self.point}/{self.parameter.alias}")

    @property
    def limited(self) -> bool:
        """Whether exceedance rules apply: an outlet or discharge point with a limit."""
        return self.role in LIMITED_ROLES and (
            self.limit_max is not None or self.limit_min is not None
        )

    def runs(self, rule: Rule) -> bool:
        return rule not in self.rules.disabled


class Finding(NamedTuple):
    """One rule's verdict on one target at one instant, with what to say if it raises.

    A named tuple and a lazy message: the engine makes several per reading, and only the few
    that complete a transition are ever described.
    """

    rule: Rule
    target: str
    channel_id: int | None
    verdict: Verdict
    at: datetime
    value: float | None
    threshold: float | None
    message: Callable[[], str]


@dataclass(slots=True)
class ChannelState:
    """What the live rules remember of a channel between readings."""

    last_ts: datetime | None = None  # newest reading time seen (no-data)
    watched_since: datetime | None = None  # for a channel that never reported: engine start
    last_valid: float | None = None  # previous valid value (jump)
    flat_value: float | None = None  # value of the current run of identical valid values
    flat_since: datetime | None = None
    flat_count: int = 0
    # The live rules with a tracker for this channel, kept by the engine; None: report every
    # verdict. A CLEAR of a rule without a tracker changes nothing (normal stays normal), so
    # the live rules do not build it: that is most findings, and most of the engine's time.
    tracked: set[Rule] | None = None

    def wants(self, rule: Rule, verdict: Verdict) -> bool:
        """Whether a finding of `rule` with `verdict` can change anything."""
        return verdict is not Verdict.CLEAR or self.tracked is None or rule in self.tracked


def _finding(
    spec: ChannelSpec,
    rule: Rule,
    *,
    verdict: Verdict,
    at: datetime,
    value: float | None,
    threshold: float | None,
    message: Callable[[], str],
) -> Finding:
    return Finding(rule, spec.target, spec.id, verdict, at, value, threshold, message)


def on_reading(
    spec: ChannelSpec, state: ChannelState, reading: Reading, config: AlarmConfig
) -> list[Finding]:
    """Update the channel's state with one new reading; the live rules' findings.

    Every committed reading passes here: each rule decides its verdict first and builds a
    finding only when `state.wants` it.
    """
    if state.last_ts is None or reading.ts > state.last_ts:
        state.last_ts = reading.ts
    findings: list[Finding] = []
    disabled = spec.rules.disabled
    if Rule.INSTRUMENT_STATE not in disabled:
        _instrument_state(spec, state, reading, findings)
    if reading.flag not in DEFAULT_VALID_FLAGS:
        return findings
    if spec.limited and Rule.EXCEEDANCE_LIVE not in disabled:
        _live_exceedance(spec, state, reading, config, findings)
    if Rule.IMPLAUSIBLE not in disabled:
        _implausible(spec, state, reading, findings)
    if Rule.FLAT_LINE not in disabled:
        _flat_line(spec, state, reading, findings)
    state.last_valid = reading.value
    return findings


def _live_exceedance(
    spec: ChannelSpec,
    state: ChannelState,
    reading: Reading,
    config: AlarmConfig,
    findings: list[Finding],
) -> None:
    h = config.policy(Rule.EXCEEDANCE_LIVE).hysteresis
    verdict = within(reading.value, spec.limit_min, spec.limit_max, h)
    if not state.wants(Rule.EXCEEDANCE_LIVE, verdict):
        return
    findings.append(
        _finding(
            spec,
            Rule.EXCEEDANCE_LIVE,
            verdict=verdict,
            at=reading.ts,
            value=reading.value,
            threshold=spec.limit_max if spec.limit_max is not None else spec.limit_min,
            message=lambda: (
                f"{spec.target}: real-time {reading.value:g} {spec.parameter.unit} outside "
                f"the limit {_limit_text(spec)}"
            ),
        )
    )


def _limit_text(spec: ChannelSpec) -> str:
    if spec.limit_min is not None and spec.limit_max is not None:
        return f"{spec.limit_min:g}–{spec.limit_max:g}"
    if spec.limit_max is not None:
        return f"≤ {spec.limit_max:g}"
    return f"≥ {spec.limit_min:g}"


def _instrument_state(
    spec: ChannelSpec, state: ChannelState, reading: Reading, findings: list[Finding]
) -> None:
    if reading.flag in INSTRUMENT_STATE_FLAGS:
        verdict = Verdict.RAISE
    elif reading.flag in DEFAULT_VALID_FLAGS:
        verdict = Verdict.CLEAR
    else:
        return  # S (set value) or a vendor letter: says nothing about the state
    if not state.wants(Rule.INSTRUMENT_STATE, verdict):
        return
    findings.append(
        _finding(
            spec,
            Rule.INSTRUMENT_STATE,
            verdict=verdict,
            at=reading.ts,
            value=None,
            threshold=None,
            message=lambda: f"{spec.target}: instrument reports flag {reading.flag}",
        )
    )


def _implausible(
    spec: ChannelSpec, state: ChannelState, reading: Reading, findings: list[Finding]
) -> None:
    value, rules = reading.value, spec.rules
    high = spec.parameter.plausible[1]
    why = ""
    if value < 0:
        why = "a negative value"
    elif value > high * rules.plausible_margin:
        why = f"near the plausible bound {high:g}"
    elif (
        # Only analysers: a flow legitimately jumps when pumps start.
        spec.parameter.kind is Kind.CONCENTRATION
        and state.last_valid is not None
        and state.last_valid > 0
        and value > state.last_valid * rules.jump_factor
        and value - state.last_valid > rules.jump_floor
    ):
        why = f"a jump from {state.last_valid:g}"
    verdict = Verdict.RAISE if why else Verdict.CLEAR
    if not state.wants(Rule.IMPLAUSIBLE, verdict):
        return
    findings.append(
        _finding(
            spec,
            Rule.IMPLAUSIBLE,
            verdict=verdict,
            at=reading.ts,
            value=value,
            threshold=None,
            message=lambda: f"{spec.target}: implausible {value:g} {spec.parameter.unit} ({why})",
        )
    )


def _flat_line(
    spec: ChannelSpec, state: ChannelState, reading: Reading, findings: list[Finding]
) -> None:
    value = reading.value
    if spec.parameter.kind is Kind.FLOW and value == 0:
        return  # no discharge (a night, a stop) is legitimately flat
    if value != state.flat_value or state.flat_since is None:
        was_run = state.flat_count > 0
        state.flat_value, state.flat_since, state.flat_count = value, reading.ts, 1
        verdict = Verdict.CLEAR if was_run else Verdict.HOLD
    else:
        state.flat_count += 1
        span = reading.ts - state.flat_since
        filled = span >= spec.rules.flat_window and state.flat_count >= spec.rules.flat_min_samples
        if not filled:
            return  # still accumulating: neither raises nor clears
        verdict = Verdict.RAISE
    if not state.wants(Rule.FLAT_LINE, verdict):
        return
    since, count = state.flat_since, state.flat_count
    findings.append(
        _finding(
            spec,
            Rule.FLAT_LINE,
            verdict=verdict,
            at=reading.ts,
            value=value,
            threshold=None,
            message=lambda: (
                f"{spec.target}: {count} identical values {value:g} over "
                f"{(reading.ts - since).total_seconds() / 3600:.1f} h "
                "(suspected tampering or a stuck instrument)"
            ),
        )
    )


def on_clock(spec: ChannelSpec, state: ChannelState, now: datetime) -> Finding | None:
    """The no-data rule: RAISE when the channel has been silent beyond its interval."""
    last = state.last_ts or state.watched_since
    if not spec.runs(Rule.NO_DATA) or last is None:
        return None
    silence = now - last
    verdict = Verdict.RAISE if silence > spec.rules.no_data else Verdict.CLEAR
    return _finding(
        spec,
        Rule.NO_DATA,
        verdict=verdict,
        at=now,
        value=silence.total_seconds(),
        threshold=spec.rules.no_data.total_seconds(),
        message=lambda: (
            f"{spec.target}: no data for {_duration(silence)} "
            f"(allowed {_duration(spec.rules.no_data)})"
        ),
    )


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def hour_exceedance(
    spec: ChannelSpec, hour: datetime, mean: float | None, coverage: float, config: AlarmConfig
) -> Finding | None:
    """Hourly flow-weighted mean of a limited pollutant against its upper limit."""
    if not (spec.limited and spec.limit_max is not None) or not spec.runs(Rule.EXCEEDANCE_HOUR):
        return None
    if mean is None or coverage < config.min_coverage:
        verdict = Verdict.HOLD  # too little data to say either way
    else:
        verdict = above(mean, spec.limit_max, config.policy(Rule.EXCEEDANCE_HOUR).hysteresis)
    return _finding(
        spec,
        Rule.EXCEEDANCE_HOUR,
        verdict=verdict,
        at=hour + timedelta(hours=1),
        value=mean,
        threshold=spec.limit_max,
        message=lambda: (
            f"{spec.target}: hourly flow-weighted mean {mean or 0:.1f} {spec.parameter.unit} from "
            f"{hour.isoformat()} above the limit {spec.limit_max:g}"
        ),
    )


def low_influent(
    spec: ChannelSpec,
    rule: Rule,
    *,
    end: datetime,
    mean: float | None,
    coverage: float,
    config: AlarmConfig,
) -> Finding | None:
    """Inlet flow-weighted COD over a day (or the trailing 24 h) against 260 mg/L."""
    if spec.role != "inlet" or spec.parameter.code != COD or not spec.runs(rule):
        return None
    threshold = spec.rules.low_influent
    if mean is None or coverage < config.min_coverage:
        verdict = Verdict.HOLD
    else:
        verdict = below(mean, threshold, config.policy(rule).hysteresis)
    span = "day" if rule is Rule.LOW_INFLUENT_DAY else "24 h"
    return _finding(
        spec,
        rule,
        verdict=verdict,
        at=end,
        value=mean,
        threshold=threshold,
        message=lambda: (
            f"{spec.target}: flow-weighted influent COD over the {span} to {end.isoformat()} is "
            f"{mean or 0:.0f} mg/L, below {threshold:g} (dilution by groundwater, river or rain?)"
        ),
    )
