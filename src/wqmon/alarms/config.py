"""Alarm rules, their policies and defaults, and per-point/channel overrides.

A rule decides *whether* its condition holds; a `Policy` decides *when* that becomes an alarm:
the delay before raising, the delay and value hysteresis before clearing, and the severity.
Defaults follow docs/field-facts.md §8, §9 and docs/alarms.md; every figure can be overridden per point or per
channel with `WQMON_ALARM_OVERRIDES` (see `ChannelOverride`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

from wqmon.parameters import Kind, Parameter
from wqmon.settings import Settings


class Rule(StrEnum):
    """The alarm rules; the value is stored in `alarm.rule`."""

    EXCEEDANCE_HOUR = "exceedance_hour"  # hourly flow-weighted mean above the limit
    EXCEEDANCE_LIVE = "exceedance_live"  # real-time values above the limit for a while
    LOW_INFLUENT_DAY = "low_influent_day"  # inlet flow-weighted daily COD below 260 mg/L
    LOW_INFLUENT_24H = "low_influent_24h"  # the same over the trailing 24 h, every hour
    NO_DATA = "no_data"  # silence beyond the channel's interval
    FLAT_LINE = "flat_line"  # identical values for hours: suspected tampering
    INSTRUMENT_STATE = "instrument_state"  # flags D F M C B lasting beyond a delay
    IMPLAUSIBLE = "implausible"  # negative, near the plausible bound, or a sudden jump


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Policy:
    """How a rule's condition becomes an alarm and stops being one.

    Attributes:
        delay: The condition must hold this long (without a contrary observation) to raise.
        clear_delay: The clear condition must hold this long to clear.
        hysteresis: Fraction of the threshold the value must move back past to clear; between
            the threshold and the clear level the alarm keeps its state (no flapping).
        severity: Of the alarms it raises.
    """

    delay: timedelta = timedelta(0)
    clear_delay: timedelta = timedelta(0)
    hysteresis: float = 0.0
    severity: Severity = Severity.WARNING


DEFAULT_POLICIES: dict[Rule, Policy] = {
    # Hourly means are already aggregates: raise on the first, clear when one is 10 % under.
    Rule.EXCEEDANCE_HOUR: Policy(hysteresis=0.1, severity=Severity.CRITICAL),
    Rule.EXCEEDANCE_LIVE: Policy(
        timedelta(minutes=30), timedelta(minutes=10), 0.05, Severity.WARNING
    ),
    Rule.LOW_INFLUENT_DAY: Policy(hysteresis=0.05, severity=Severity.MAJOR),
    Rule.LOW_INFLUENT_24H: Policy(hysteresis=0.05, severity=Severity.WARNING),
    Rule.NO_DATA: Policy(severity=Severity.MAJOR),
    Rule.FLAT_LINE: Policy(severity=Severity.MAJOR),
    Rule.INSTRUMENT_STATE: Policy(timedelta(minutes=30), timedelta(minutes=5), 0.0),
    # An implausible value is a point event; it clears after an hour of plausible data.
    Rule.IMPLAUSIBLE: Policy(clear_delay=timedelta(hours=1), severity=Severity.WARNING),
}


@dataclass(frozen=True, slots=True)
class ChannelRules:
    """The figures rules use for one channel, after defaults and overrides.

    Attributes:
        no_data: Silence longer than this raises `no_data`.
        flat_window: Identical valid values spanning this long raise `flat_line`.
        flat_min_samples: ...and at least this many of them (a sparse channel proves nothing).
        low_influent: Inlet COD threshold, mg/L.
        jump_factor: A valid value more than this many times the previous one (and more than
            `jump_floor` above it) is a sudden jump.
        plausible_margin: Values above this fraction of the parameter's plausible upper bound
            are implausible (the validator already refused the ones beyond it).
        disabled: Rules that do not run for this channel.
        live_window: A reading received later than this after its time is late (a backfill,
            a replay, a logger's re-sent history): the live rules and the no-data rule leave
            it alone, the hour and day rules still judge it. None: every reading is live.
    """

    no_data: timedelta
    flat_window: timedelta
    live_window: timedelta | None = None
    flat_min_samples: int = 12
    low_influent: float = 260.0
    jump_factor: float = 10.0
    jump_floor: float = 50.0
    plausible_margin: float = 0.9
    disabled: frozenset[Rule] = frozenset()


@dataclass(frozen=True, slots=True)
class ChannelOverride:
    """Overrides for a point (`SITE/point`) or a channel (`SITE/point/alias`); None keeps."""

    no_data_s: float | None = None
    flat_window_s: float | None = None
    low_influent: float | None = None
    disabled: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AlarmConfig:
    """Everything the engine needs besides the registry.

    Attributes:
        policies: Per rule.
        no_data_continuous: Default silence for continuous sensors (flow, pH, temperature).
        no_data_analyser: Default silence for batch analysers (COD, NH3-N, TP, TN: 1–2 h cycle).
        flat_continuous: Flat-line window for continuous sensors.
        flat_analyser: Flat-line window for analysers; it spans at least three 2 h cycles, so a
            held result repeated by the logger between samples never fills it on its own.
        hour_grace: An hour is evaluated this long after it ends (late channels of the hour).
        min_coverage: Fraction of an hour or day the flow-weighted mean must cover to judge.
        renotify: Re-notify an unacknowledged open alarm this often.
        low_influent: Default inlet COD threshold, mg/L (city policy: 260).
        overrides: Keyed `SITE/point` or `SITE/point/alias`; the channel key wins.
        live_window_continuous: Receipt delay beyond which a continuous sensor's reading is
            late (`ChannelRules.live_window`); None (the library default, used by rule tests):
            every reading is live. `wqmon ingest` sets both from its settings.
        live_window_analyser: The same for analysers, whose results arrive with their sample
            time up to a cycle (1–2 h) after it (docs/field-facts.md §3).
    """

    policies: Mapping[Rule, Policy] = field(default_factory=lambda: dict(DEFAULT_POLICIES))
    no_data_continuous: timedelta = timedelta(minutes=30)
    no_data_analyser: timedelta = timedelta(hours=4)
    flat_continuous: timedelta = timedelta(hours=2)
    flat_analyser: timedelta = timedelta(hours=6)
    hour_grace: timedelta = timedelta(minutes=2)
    min_coverage: float = 0.5
    renotify: timedelta = timedelta(hours=1)
    overrides: Mapping[str, ChannelOverride] = field(default_factory=dict)
    low_influent: float = 260.0
    live_window_continuous: timedelta | None = None
    live_window_analyser: timedelta | None = None

    def policy(self, rule: Rule) -> Policy:
        return self.policies.get(rule, DEFAULT_POLICIES[rule])

    def for_channel(self, site: str, point: str, parameter: Parameter) -> ChannelRules:
        """The figures for one channel: kind defaults, then point, then channel overrides."""
        analyser = parameter.kind is Kind.CONCENTRATION
        rules = ChannelRules(
            no_data=self.no_data_analyser if analyser else self.no_data_continuous,
            flat_window=self.flat_analyser if analyser else self.flat_continuous,
            # An analyser gives one result per cycle; a few identical results already count.
            flat_min_samples=3 if analyser else 12,
            low_influent=self.low_influent,
            live_window=self.live_window_analyser if analyser else self.live_window_continuous,
        )
        for key in (f"{site}/{point}", f"{site}/{point}/{parameter.alias}"):
            override = self.overrides.get(key)
            if override is not None:
                rules = _apply(rules, override)
        return rules


def _apply(rules: ChannelRules, override: ChannelOverride) -> ChannelRules:
    return replace(
        rules,
        no_data=rules.no_data
        if override.no_data_s is None
        else timedelta(seconds=override.no_data_s),
        flat_window=rules.flat_window
        if override.flat_window_s is None
        else timedelta(seconds=override.flat_window_s),
        low_influent=rules.low_influent if override.low_influent is None else override.low_influent,
        disabled=rules.disabled | {Rule(name) for name in override.disabled},
    )


def config_from_settings(settings: Settings) -> AlarmConfig:
    """The engine's configuration from `alarm_*` settings (unknown override keys are errors)."""
    policies = dict(DEFAULT_POLICIES)
    live = policies[Rule.EXCEEDANCE_LIVE]
    policies[Rule.EXCEEDANCE_LIVE] = replace(
        live, delay=timedelta(seconds=settings.alarm_live_exceedance_delay_s)
    )
    for name, timing in settings.alarm_policy_overrides.items():
        policies[Rule(name)] = _timed(policies[Rule(name)], timing)
    overrides = {
        key: ChannelOverride(**_override_fields(key, raw))
        for key, raw in settings.alarm_overrides.items()
    }
    return AlarmConfig(
        policies=policies,
        no_data_continuous=timedelta(seconds=settings.alarm_no_data_continuous_s),
        no_data_analyser=timedelta(seconds=settings.alarm_no_data_analyser_s),
        renotify=timedelta(seconds=settings.alarm_renotify_s),
        overrides=overrides,
        low_influent=settings.alarm_low_influent_mg_l,
        live_window_continuous=timedelta(seconds=settings.alarm_live_window_continuous_s),
        live_window_analyser=timedelta(seconds=settings.alarm_live_window_analyser_s),
    )


def _timed(policy: Policy, timing: Mapping[str, float]) -> Policy:
    """A rule's delays from settings: `{"delay_s": 60, "clear_delay_s": 0}`."""
    unknown = set(timing) - {"delay_s", "clear_delay_s"}
    if unknown:
        msg = f"alarm policy override: unknown fields {sorted(unknown)} (delay_s, clear_delay_s)"
        raise ValueError(msg)
    delay = timing.get("delay_s")
    clear = timing.get("clear_delay_s")
    return replace(
        policy,
        delay=policy.delay if delay is None else timedelta(seconds=delay),
        clear_delay=policy.clear_delay if clear is None else timedelta(seconds=clear),
    )


def _override_fields(key: str, raw: Mapping[str, object]) -> dict[str, Any]:
    known = {"no_data_s", "flat_window_s", "low_influent", "disabled"}
    unknown = set(raw) - known
    if unknown or key.count("/") not in (1, 2):
        msg = f"alarm override {key!r}: keys must be SITE/point[/alias], fields {sorted(known)}"
        raise ValueError(msg)
    fields: dict[str, Any] = dict(raw)
    if "disabled" in fields:
        fields["disabled"] = tuple(Rule(str(name)) for name in fields["disabled"])
    return fields
