"""How marks and corrections change one channel's series before it is rolled up (pure code).

The rollup (`wqmon.balance.hourly`, `periods`) works on samples and on step functions built from
them. A channel's audit changes both, in this order (docs/audit.md §3):

1. Corrections: a replacement series replaces every reading in its range by its own points; a
   value correction replaces one reading's value. Corrected values count as valid (flag `N`).
2. Steps: the step function (flow steps, held concentration) is built from the corrected
   readings as before; then each range takes its own time from its own version: an invalid
   mark's range is cut out, a valid mark's range comes from the steps built with its readings
   counting as valid, a replaced range from the replacement series (a point holds until the
   series' next point or the range end, so one lab result can stand for a day).
3. Flags and counts: inside an invalid mark a reading takes the mark's flag (so the hour's
   flag and validity say why); inside a valid mark an invalidly flagged reading counts as `N`;
   inside a replaced range the replacement points stand in for the readings.

So a mark changes the figures of exactly its own range, nothing before or after it: a reading
inside an invalid range still holds past its end as it did before (mark the range up to the
next good result when that reading was bad too). Of overlapping marks (or corrections) the
latest recorded decides, instant by instant.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from wqmon.audit.model import Correction, Mark, Validity
from wqmon.balance.records import PeriodValue, Sample, Series
from wqmon.balance.segments import Segment

NORMAL = "N"
T = TypeVar("T", Mark, Correction)
Span = tuple[float, float]


def resolve(items: Iterable[T]) -> list[tuple[float, float, T]]:
    """Non-overlapping pieces (epoch seconds, sorted) where, of the items covering each
    instant, the latest recorded (then the highest id) decides."""
    items = list(items)
    if not items:
        return []
    cuts = sorted({t for i in items for t in (i.start.timestamp(), i.end.timestamp())})
    ranked = sorted(items, key=lambda i: (i.created_at, i.id), reverse=True)
    pieces: list[tuple[float, float, T]] = []
    for lo, hi in itertools.pairwise(cuts):
        winner = next(
            (i for i in ranked if i.start.timestamp() <= lo and hi <= i.end.timestamp()), None
        )
        if winner is None:
            continue
        if pieces and pieces[-1][2] is winner and pieces[-1][1] == lo:
            pieces[-1] = (pieces[-1][0], hi, winner)
        else:
            pieces.append((lo, hi, winner))
    return pieces


def subtract(steps: Sequence[Segment], spans: Sequence[Span]) -> list[Segment]:
    """The steps with the (sorted, non-overlapping) spans cut out."""
    if not spans:
        return list(steps)
    ends = [s[1] for s in spans]
    result: list[Segment] = []
    for start, end, value in steps:
        cursor = start
        i = bisect.bisect_right(ends, start)
        while cursor < end and i < len(spans):
            lo, hi = spans[i]
            if lo >= end:
                break
            if lo > cursor:
                result.append(Segment(cursor, lo, value))
            cursor = max(cursor, hi)
            i += 1
        if cursor < end:
            result.append(Segment(cursor, end, value))
    return result


def _merge(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _gaps(spans: Sequence[Span]) -> list[Span]:
    """The spans between consecutive (sorted, merged) spans."""
    return [(a[1], b[0]) for a, b in itertools.pairwise(spans) if b[0] > a[1]]


def _find(pieces: Sequence[tuple[float, float, T]], starts: Sequence[float], t: float) -> T | None:
    i = bisect.bisect_right(starts, t) - 1
    if i >= 0 and pieces[i][0] <= t < pieces[i][1]:
        return pieces[i][2]
    return None


@dataclass(frozen=True)
class ChannelAudit:
    """The marks (point-wide and the channel's own) and corrections of one channel.

    Attributes:
        marks: The marks in force, any order.
        corrections: The corrections in force, any order.
    """

    marks: tuple[Mark, ...] = ()
    corrections: tuple[Correction, ...] = ()
    _marks: list[tuple[float, float, Mark]] = field(init=False, repr=False)
    _mark_starts: list[float] = field(init=False, repr=False)
    _series: list[tuple[float, float, Correction]] = field(init=False, repr=False)
    _series_starts: list[float] = field(init=False, repr=False)
    _values: dict[float, tuple[float, Correction]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        marks = resolve(self.marks)
        series = resolve(c for c in self.corrections if c.kind == "series")
        values: dict[float, tuple[float, Correction]] = {}
        for c in sorted(
            (c for c in self.corrections if c.kind == "value"), key=lambda c: (c.created_at, c.id)
        ):
            ts, value = c.points[0]
            values[ts.timestamp()] = (value, c)  # a later correction of the same reading wins
        object.__setattr__(self, "_marks", marks)
        object.__setattr__(self, "_mark_starts", [p[0] for p in marks])
        object.__setattr__(self, "_series", series)
        object.__setattr__(self, "_series_starts", [p[0] for p in series])
        object.__setattr__(self, "_values", values)

    @property
    def mark_pieces(self) -> list[tuple[float, float, Mark]]:
        """The resolved marks: (start, end, mark) in epoch seconds, sorted, not overlapping."""
        return self._marks

    @property
    def series_pieces(self) -> list[tuple[float, float, Correction]]:
        """The resolved replacement series, likewise."""
        return self._series

    @property
    def empty(self) -> bool:
        return not self.marks and not self.corrections

    def mark_at(self, t: float) -> Mark | None:
        """The mark deciding instant t (epoch seconds), if any."""
        return _find(self._marks, self._mark_starts, t)

    def replacement_at(self, t: float) -> Correction | None:
        """The replacement series deciding instant t, if any."""
        return _find(self._series, self._series_starts, t)

    # -- samples ---------------------------------------------------------------------------

    @property
    def validates(self) -> bool:
        """Whether a valid mark is in force (then steps are built twice, see `apply_steps`)."""
        return any(m.validity is Validity.VALID for _, _, m in self._marks)

    def corrected(self, samples: Series) -> list[Sample]:
        """The readings with their value corrections (a corrected value counts as `N`)."""
        if not self._values:
            return list(samples)
        result = []
        for ts, value, flag in samples:
            fix = self._values.get(ts.timestamp())
            result.append((ts, fix[0], NORMAL) if fix is not None else (ts, value, flag))
        return result

    def validated(self, samples: Series, valid_flags: frozenset[str]) -> list[Sample]:
        """The readings with those inside valid marks counting as `N` (when flagged invalid)."""
        result = []
        for ts, value, flag in samples:
            mark = self.mark_at(ts.timestamp())
            made_valid = mark is not None and mark.validity is Validity.VALID
            result.append((ts, value, NORMAL if made_valid and flag not in valid_flags else flag))
        return result

    def adjust(self, samples: Series, valid_flags: frozenset[str]) -> list[Sample]:
        """The readings as an hour's flag, counts and validity see them: corrected, replaced by
        the replacement series in their ranges, and flagged by the marks (an invalid mark's
        flag, or `N` inside a valid mark)."""
        if self.empty:
            return list(samples)
        kept = [s for s in self.corrected(samples) if self.replacement_at(s[0].timestamp()) is None]
        for lo, hi, c in self._series:
            kept.extend((ts, v, NORMAL) for ts, v in c.points if lo <= ts.timestamp() < hi)
        kept.sort(key=lambda s: s[0])
        return [self._flagged(s, valid_flags) for s in kept]

    def _flagged(self, sample: Sample, valid_flags: frozenset[str]) -> Sample:
        mark = self.mark_at(sample[0].timestamp())
        if mark is None:
            return sample
        if mark.validity is Validity.INVALID:
            return (sample[0], sample[1], mark.flag)
        return sample if sample[2] in valid_flags else (sample[0], sample[1], NORMAL)

    def adjust_records(
        self, records: Sequence[PeriodValue], length: timedelta, valid_flags: frozenset[str]
    ) -> list[PeriodValue]:
        """Logger period records as statistics see them: a record that overlaps an invalid
        mark or a replaced range is invalid as a whole (it cannot be split); one inside a valid
        mark counts as `N`."""
        if self.empty:
            return list(records)
        return [self._record(r, length.total_seconds(), valid_flags) for r in records]

    def _record(self, r: PeriodValue, length_s: float, valid_flags: frozenset[str]) -> PeriodValue:
        lo = r.ts.timestamp()
        hi = lo + length_s
        for s, e, mark in self._marks:
            if s < hi and lo < e and mark.validity is Validity.INVALID:
                return PeriodValue(r.ts, r.avg, r.cou, mark.flag)
        if any(s < hi and lo < e for s, e, _ in self._series):
            return PeriodValue(r.ts, r.avg, r.cou, "S")
        if r.flag not in valid_flags:
            inside = all(
                (m := self.mark_at(t)) is not None and m.validity is Validity.VALID
                for t in (lo, hi - 1e-6)
            )
            if inside:
                return PeriodValue(r.ts, r.avg, r.cou, NORMAL)
        return r

    # -- steps -----------------------------------------------------------------------------

    def apply_steps(
        self,
        steps: Sequence[Segment],
        validated: Sequence[Segment] | None,
        lo: float,
        hi: float,
    ) -> list[Segment]:
        """The channel's timeline: outside every range the steps of the (corrected) readings;
        inside a valid mark the steps built with its readings counting as valid (`validated`);
        inside an invalid mark nothing; inside a replaced range the replacement steps.

        Each range takes only its own time from its version, so a record changes the figures
        of exactly its range (and a value correction those its reading reaches).
        """
        if not self._marks and not self._series:
            return list(steps)
        invalid = _merge((s, e) for s, e, m in self._marks if m.validity is Validity.INVALID)
        valid = _merge((s, e) for s, e, m in self._marks if m.validity is Validity.VALID)
        replaced = _merge((s, e) for s, e, _ in self._series)
        result = subtract(steps, _merge([*invalid, *valid, *replaced]))
        if valid and validated is not None:
            outside = _merge([(lo - 1.0, valid[0][0]), *_gaps(valid), (valid[-1][1], hi + 1.0)])
            result.extend(subtract(subtract(validated, outside), _merge([*invalid, *replaced])))
        result.extend(subtract(self._replacement_steps(lo, hi), invalid))
        result.sort(key=lambda s: s.start)
        return result

    def _replacement_steps(self, lo: float, hi: float) -> list[Segment]:
        steps: list[Segment] = []
        for start, end, c in self._series:
            times = [(ts.timestamp(), v) for ts, v in c.points]
            for i, (t, v) in enumerate(times):
                following = times[i + 1][0] if i + 1 < len(times) else end
                a, b = max(t, start, lo), min(following, end, hi)
                if b > a:
                    steps.append(Segment(a, b, v))
        return steps

    # -- traces ----------------------------------------------------------------------------

    def touching(self, lo: float, hi: float, extent_s: float) -> tuple[set[int], set[int]]:
        """(mark ids, correction ids) that can change figures of [lo, hi).

        A mark or a replacement series reaches its own range; a corrected reading also reaches
        `extent_s` past its time (it holds or steps on, as any valid reading does).
        """
        marks = {m.id for m in self.marks if m.start.timestamp() < hi and lo < m.end.timestamp()}
        corrections = {
            c.id
            for c in self.corrections
            if c.start.timestamp() < hi
            and lo < (c.start.timestamp() + extent_s if c.kind == "value" else c.end.timestamp())
        }
        return marks, corrections


NO_AUDIT = ChannelAudit()
