"""Validation of raw readings: channel resolution, units, plausibility, time window.

Pure: no I/O. Each refusal is a `RejectedReading` with a stable reason code (used as a metric
label and in the dead letter) and a detail that names the offending value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from wqmon.errors import RejectedReading
from wqmon.flags import KNOWN_FLAGS, MAX_FLAG_LENGTH, normalise_flag
from wqmon.ingest.directory import ChannelInfo, Directory
from wqmon.model import PeriodRecord, RawPeriodRecord, RawReading, Reading
from wqmon.parameters import Kind, Parameter, conversion_factor, lookup

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Limits:
    """The time window a reading must fall in."""

    future_tolerance: timedelta = timedelta(minutes=5)
    earliest: datetime = EARLIEST


def resolve_channel(
    directory: Directory,
    site: str,
    point: str,
    parameter: str,
    allowed_sites: frozenset[str] | None,
) -> ChannelInfo:
    """The channel named by a raw record, or a rejection saying what is unknown."""
    if allowed_sites is not None and site not in allowed_sites:
        raise RejectedReading("site_not_allowed", f"the source may not write site {site!r}")
    known = directory.resolve(site, point, parameter)
    if known is not None:
        return known
    param = lookup(parameter)
    if param is None:
        raise RejectedReading("unknown_parameter", f"unknown parameter {parameter!r}")
    info = directory.channel(site, point, param.code)
    if info is None:
        raise RejectedReading(
            "unknown_channel",
            f"no channel {site}/{point}/{param.alias} ({param.code}) in the registry",
        )
    return info


def check_time(ts: datetime, now: datetime, limits: Limits) -> datetime:
    """The time in UTC, or a rejection when it is naive, too far ahead or too old."""
    if ts.tzinfo is None:
        raise RejectedReading("naive_time", f"time {ts.isoformat()} has no time zone")
    utc = ts if ts.tzinfo is UTC else ts.astimezone(UTC)
    if utc > now + limits.future_tolerance:
        raise RejectedReading(
            "future_time", f"time {utc.isoformat()} is ahead of {now.isoformat()}"
        )
    if utc < limits.earliest:
        raise RejectedReading(
            "too_old", f"time {utc.isoformat()} is before {limits.earliest.date()}"
        )
    return utc


def check_value(param: Parameter, value: float, unit: str | None) -> float:
    """The value in canonical units, or a rejection when it is not a plausible measurement."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RejectedReading("non_numeric", f"value {value!r} is not a number")
    if not math.isfinite(value):
        raise RejectedReading("non_finite", f"value {value!r} is not finite")
    canonical = float(value) * conversion_factor(param, unit)
    low, high = param.plausible
    if param.kind in (Kind.FLOW, Kind.TOTALISER) and canonical < 0:
        raise RejectedReading(
            "negative_flow", f"{param.alias} {canonical} {param.unit} is negative"
        )
    if not low <= canonical <= high:
        raise RejectedReading(
            "implausible_value",
            f"{param.alias} {canonical} {param.unit} is outside the plausible range [{low}, {high}]",
        )
    return canonical


def check_flag(raw: str | None) -> str:
    if raw in KNOWN_FLAGS:  # the common case, already clean
        return raw
    flag = normalise_flag(raw)
    if len(flag) > MAX_FLAG_LENGTH or not flag.isalnum():
        raise RejectedReading(
            "bad_flag", f"flag {raw!r} is not 1-{MAX_FLAG_LENGTH} letters or digits"
        )
    return flag


@dataclass(frozen=True, slots=True)
class Context:
    """What validation of one envelope needs besides the record itself."""

    directory: Directory
    now: datetime
    source: str
    received_at: datetime
    limits: Limits = Limits()
    allowed_sites: frozenset[str] | None = None  # None: the source may write any site


def validate_reading(raw: RawReading, ctx: Context) -> Reading:
    """Validate one raw reading; raises `RejectedReading`."""
    info = resolve_channel(ctx.directory, raw.site, raw.point, raw.parameter, ctx.allowed_sites)
    value = check_value(info.parameter, raw.value, raw.unit)
    ts = check_time(raw.ts, ctx.now, ctx.limits)
    return Reading(info.id, ts, value, check_flag(raw.flag), ctx.source, ctx.received_at)


def validate_period(raw: RawPeriodRecord, ctx: Context) -> PeriodRecord:
    """Validate one logger period record; avg/min/max are converted, cou is m³ or kg as sent."""
    info = resolve_channel(ctx.directory, raw.site, raw.point, raw.parameter, ctx.allowed_sites)
    param = info.parameter
    stats = [
        None if v is None else check_value(param, v, raw.unit) for v in (raw.avg, raw.min, raw.max)
    ]
    cou = raw.cou
    if cou is not None and (not math.isfinite(cou) or cou < 0):
        raise RejectedReading(
            "implausible_value", f"{param.alias} cumulative value {cou} is invalid"
        )
    ts = check_time(raw.ts, ctx.now, ctx.limits)
    flag = check_flag(raw.flag)
    return PeriodRecord(
        info.id,
        raw.period.value,
        ts,
        stats[0],
        stats[1],
        stats[2],
        cou,
        flag,
        ctx.source,
        ctx.received_at,
    )
