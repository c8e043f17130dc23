"""Validity of each channel-hour (pure): valid, invalid (and why), shutdown, or missing.

The rule (docs/audit.md §4) is explicit and configurable (`ValidityRule`):

- **shutdown**: a shutdown mark covers at least `shutdown_min_share` of the hour. Left out of the
  valid-data rate's denominator, as platforms compute the capture rate
  (hours − shutdown − invalid) / (hours − shutdown).
- **received**: a reading (or a logger hour/minute record) lies in the hour, or a replacement
  series covers it.
- **invalid**: an invalid mark covers more than 1 − `min_valid_share` of the hour (the mark's
  reason is the cause), or fewer than `min_valid_share` of the hour's readings are valid after
  marks and corrections (the first invalid flag is the cause; a negative value: `negative`).
  The default 1.0 is HJ 212-2017 Appendix C's wastewater rule: one abnormal value makes the
  period abnormal.
- **valid**: received and not invalid. Missing hours (nothing received) have no row.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from operator import itemgetter

from wqmon.audit.model import Reason, Validity
from wqmon.audit.rule import DEFAULT_RULE, ValidityRule
from wqmon.audit.timeline import ChannelAudit
from wqmon.balance.records import HOUR, HOUR_S, PeriodValue, Sample, hour_starts
from wqmon.flags import is_valid


class HourState(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    SHUTDOWN = "shutdown"


@dataclass(frozen=True, slots=True)
class ChannelHour:
    """One channel-hour's validity (a `channel_hour` row)."""

    hour: datetime
    received: bool
    n_samples: int
    n_valid: int
    state: HourState
    cause: str | None = None
    mark_id: int | None = None


def channel_hours(
    samples: Sequence[Sample],
    records: Sequence[PeriodValue],
    audit: ChannelAudit,
    *,
    start: datetime,
    end: datetime,
    valid_flags: frozenset[str],
    rule: ValidityRule = DEFAULT_RULE,
) -> list[ChannelHour]:
    """The channel's hours of [start, end) that were received or shut down.

    Args:
        samples: The channel's readings in the range (as stored; the audit is applied here).
        records: The channel's logger hour and minute records in the range (as stored).
        audit: The channel's marks and corrections.
        start: First hour (whole UTC hour).
        end: End of the last hour.
        valid_flags: Flags that count as valid.
        rule: The validity rule.
    """
    hours = hour_starts(start, end)
    lo = start.timestamp()
    by_hour = _by_hour(audit.adjust(samples, valid_flags), hours)
    record_hours: list[list[PeriodValue]] = [[] for _ in hours]
    for r in records:
        i = int((r.ts.timestamp() - lo) // HOUR_S)
        if 0 <= i < len(hours):
            record_hours[i].append(r)
    result = []
    for i, hour in enumerate(hours):
        row = _judge(hour, by_hour[i], record_hours[i], audit, valid_flags, rule)
        if row is not None:
            result.append(row)
    return result


def _by_hour(samples: list[Sample], hours: list[datetime]) -> list[list[Sample]]:
    """The samples of each hour: slices found by bisection, not a timestamp() per sample (that
    loop was a quarter of the rollup worker's time, profiled)."""
    samples.sort(key=itemgetter(0))  # already sorted as stored: a linear pass in C
    edges = [*hours, hours[-1] + HOUR]
    cuts = [bisect_left(samples, edge, key=itemgetter(0)) for edge in edges]
    return [samples[cuts[i] : cuts[i + 1]] for i in range(len(hours))]


def _share(audit: ChannelAudit, hour: datetime, wanted: str) -> tuple[float, int | None]:
    """Share of the hour under invalid marks (`invalid`), shutdown marks (`shutdown`) or
    replacement series (`replaced`), and the id of the first such item."""
    lo = hour.timestamp()
    hi = lo + HOUR_S
    covered, first = 0.0, None
    pieces = audit.series_pieces if wanted == "replaced" else audit.mark_pieces
    for s, e, item in pieces:
        if wanted == "shutdown" and getattr(item, "reason", None) is not Reason.SHUTDOWN:
            continue
        if wanted == "invalid" and (
            getattr(item, "validity", None) is not Validity.INVALID
            or getattr(item, "reason", None) is Reason.SHUTDOWN
        ):
            continue
        overlap = min(e, hi) - max(s, lo)
        if overlap > 0:
            covered += overlap
            first = item.id if first is None else first
    return covered / HOUR_S, first


def _judge(  # noqa: PLR0917 - one hour's inputs, used once
    hour: datetime,
    samples: list[Sample],
    records: list[PeriodValue],
    audit: ChannelAudit,
    valid_flags: frozenset[str],
    rule: ValidityRule,
) -> ChannelHour | None:
    down, down_id = _share(audit, hour, "shutdown")
    used: Sequence[Sample | PeriodValue] = samples or records
    flags = [s[2] if isinstance(s, tuple) else s.flag for s in used]
    values = [
        s[1] if isinstance(s, tuple) else (s.avg if s.avg is not None else s.cou) for s in used
    ]
    n_valid = sum(
        1
        for f, v in zip(flags, values, strict=True)
        if is_valid(f, valid_flags) and v is not None and v >= 0
    )
    replaced, _replaced_id = _share(audit, hour, "replaced")
    received = bool(used) or replaced > 0
    if down >= rule.shutdown_min_share or (flags and set(flags) <= rule.shutdown_flags):
        return ChannelHour(
            hour, received, len(used), n_valid, HourState.SHUTDOWN, "shutdown", down_id
        )
    if not received:
        return None
    invalid, mark_id = _share(audit, hour, "invalid")
    if invalid > 1.0 - rule.min_valid_share + 1e-9:
        mark = next(m for m in audit.marks if m.id == mark_id)
        return ChannelHour(
            hour, True, len(used), n_valid, HourState.INVALID, mark.reason.value, mark_id
        )
    if replaced >= rule.min_valid_share - 1e-9:
        return ChannelHour(hour, True, len(used), n_valid, HourState.VALID, None, None)
    if used and n_valid < rule.min_valid_share * len(used) - 1e-9:
        return ChannelHour(
            hour,
            True,
            len(used),
            n_valid,
            HourState.INVALID,
            _flag_cause(flags, values, valid_flags),
        )
    return ChannelHour(hour, True, len(used), n_valid, HourState.VALID)


def _flag_cause(flags: list[str], values: list[float | None], valid_flags: frozenset[str]) -> str:
    for f, v in zip(flags, values, strict=True):
        if not is_valid(f, valid_flags):
            return f"flag:{f}"
        if v is None or v < 0:
            return "negative"
    return "invalid"
