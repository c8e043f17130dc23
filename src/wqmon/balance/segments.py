"""Piecewise-constant timelines built from sampled series, in epoch seconds.

Both flow and concentration become step functions (zero-order hold): a sample stands for the
quantity from its time until the next sample, at most a maximum age. Working in float epoch
seconds keeps the arithmetic cheap for days of 5-second flow data; doubles resolve well below a
millisecond at today's epoch values.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

from wqmon.balance.records import HOUR_S, Series
from wqmon.flags import is_valid


class Segment(NamedTuple):
    """A value that holds over [start, end), times in epoch seconds."""

    start: float
    end: float
    value: float


class Point(NamedTuple):
    """One sample in epoch seconds."""

    t: float
    value: float
    flag: str


def to_points(series: Series) -> list[Point]:
    """Samples sorted by time (stable: of equal times the last one given wins the hold)."""
    points = []
    for ts, value, flag in series:
        if ts.tzinfo is None:
            raise ValueError(f"sample time {ts.isoformat()} must be timezone-aware")
        points.append(Point(ts.timestamp(), float(value), flag))
    points.sort(key=lambda p: p.t)
    return points


def _usable(point: Point, valid_flags: frozenset[str]) -> bool:
    # Negative readings are invalid whatever their flag (HJ 356); NaN never enters a sum.
    return is_valid(point.flag, valid_flags) and point.value >= 0 and not math.isnan(point.value)


def flow_steps(
    points: list[Point], lo: float, hi: float, max_gap_s: float, valid_flags: frozenset[str]
) -> list[Segment]:
    """Valid flow as steps clipped to [lo, hi).

    Every sample, valid or not, ends the previous one's step: a flow meter speaks continuously,
    so an invalid reading says the flow is unknown from that moment until the next reading.
    """
    steps = []
    for i, point in enumerate(points):
        if not _usable(point, valid_flags):
            continue
        following = points[i + 1].t if i + 1 < len(points) else math.inf
        start, end = max(point.t, lo), min(following, point.t + max_gap_s, hi)
        if end > start:
            steps.append(Segment(start, end, point.value))
    return steps


def hold_steps(
    points: list[Point], lo: float, hi: float, max_age_s: float, valid_flags: frozenset[str]
) -> list[Segment]:
    """Held concentration as steps clipped to [lo, hi).

    Unlike flow, an invalid result is skipped: an analyser result flagged C or M is a check or a
    maintenance run, not a sample of the sewage, so the last valid result still stands for the
    water until the next valid result or until it is `max_age_s` old (docs/field-facts.md §7).
    """
    valid = [p for p in points if _usable(p, valid_flags)]
    steps = []
    for i, point in enumerate(valid):
        following = valid[i + 1].t if i + 1 < len(valid) else math.inf
        start, end = max(point.t, lo), min(following, point.t + max_age_s, hi)
        if end > start:
            steps.append(Segment(start, end, point.value))
    return steps


def split_hours(steps: list[Segment], lo: float, n_hours: int) -> list[list[Segment]]:
    """Cut steps at hour boundaries counted from `lo`; one list per hour."""
    buckets: list[list[Segment]] = [[] for _ in range(n_hours)]
    for start, end, value in steps:
        index = int((start - lo) // HOUR_S)
        cursor = start
        while cursor < end and index < n_hours:
            piece_end = min(end, lo + (index + 1) * HOUR_S)
            if piece_end > cursor:
                buckets[index].append(Segment(cursor, piece_end, value))
            cursor, index = piece_end, index + 1
    return buckets


def overlay(a: list[Segment], b: list[Segment]) -> Iterator[tuple[float, float, float]]:
    """The pieces where two sorted, non-overlapping step lists both hold: (seconds, va, vb)."""
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i].start, b[j].start), min(a[i].end, b[j].end)
        if end > start:
            yield end - start, a[i].value, b[j].value
        if a[i].end <= b[j].end:
            i += 1
        else:
            j += 1


def points_by_hour(points: list[Point], lo: float, n_hours: int) -> list[list[Point]]:
    """Samples grouped by the hour (counted from `lo`) their time falls in; others dropped."""
    buckets: list[list[Point]] = [[] for _ in range(n_hours)]
    for point in points:
        index = math.floor((point.t - lo) / HOUR_S)
        if 0 <= index < n_hours:
            buckets[index].append(point)
    return buckets
