"""Hand-made series for the balance tests, and an independent minute-by-minute calculation.

One local day (Asia/Shanghai) 2025-03-01 = UTC 2025-02-28 16:00 → 2025-03-01 16:00, for the
example registry's WWTP-01 (inlet, outlet) and ENT-01 (outfall into the sewer, region HZ).
Every sample lies on a whole minute, so evaluating the rules at each minute is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from wqmon.model import RawReading

DAY = date(2025, 3, 1)
DAY_START = datetime(2025, 2, 28, 16, tzinfo=UTC)
DAY_END = DAY_START + timedelta(days=1)
MINUTE = timedelta(minutes=1)
GAP = timedelta(minutes=15)  # default max_flow_gap
HOLD = timedelta(hours=4)  # default max_hold_age
VALID = {"N", "T"}

Sample = tuple[datetime, float, str]


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 2 if day == 28 else 3, day, hour, minute, tzinfo=UTC)


def inlet_flow() -> list[Sample]:
    """Every 5 min from an hour before the day; a silent hour; half an hour flagged D."""
    samples = []
    t = DAY_START - timedelta(hours=1)
    i = 0
    while t < DAY_END:
        silent = utc(1, 13) <= t < utc(1, 14)  # the meter's link is down: a gap
        if not silent:
            flag = "D" if utc(1, 2) <= t < utc(1, 2, 30) else "N"
            samples.append((t, 3500.0 + (i % 24) * 40.0, flag))
        t += timedelta(minutes=5)
        i += 1
    return samples


def inlet_cod() -> list[Sample]:
    """Every 2 h from before the day (lookback); one C result; two missing results (expiry)."""
    samples = []
    t = utc(28, 14)
    k = 0
    while t < DAY_END:
        if t not in (utc(1, 8), utc(1, 10)):
            flag = "C" if t == utc(1, 4) else "N"
            samples.append((t, 300.0 + 10.0 * (k % 7) - (60.0 if flag == "C" else 0.0), flag))
        t += timedelta(hours=2)
        k += 1
    return samples


def outlet_flow() -> list[Sample]:
    return _regular(timedelta(minutes=10), lambda i: 3400.0 + (i % 6) * 10.0)


def outlet_cod() -> list[Sample]:
    return _regular(timedelta(hours=1), lambda i: 25.0 + (i % 5))


def enterprise_flow() -> list[Sample]:
    return _regular(timedelta(minutes=10), lambda _: 40.0)


def enterprise_cod() -> list[Sample]:
    return _regular(timedelta(hours=2), lambda i: 400.0 + 5 * (i % 3))


def _regular(step: timedelta, value: Callable[[int], float]) -> list[Sample]:
    count = int((DAY_END - DAY_START) / step)
    return [(DAY_START + i * step, float(value(i)), "N") for i in range(count)]


SERIES: dict[tuple[str, str, str], list[Sample]] = {
    ("WWTP-01", "inlet", "flow"): inlet_flow(),
    ("WWTP-01", "inlet", "cod"): inlet_cod(),
    ("WWTP-01", "outlet", "flow"): outlet_flow(),
    ("WWTP-01", "outlet", "cod"): outlet_cod(),
    ("ENT-01", "outfall", "flow"): enterprise_flow(),
    ("ENT-01", "outfall", "cod"): enterprise_cod(),
}


def raw_readings() -> list[RawReading]:
    return [
        RawReading(site, point, parameter, ts, value, flag=flag)
        for (site, point, parameter), samples in SERIES.items()
        for ts, value, flag in samples
    ]


def _flow_at(samples: list[Sample], t: datetime) -> float | None:
    before = [s for s in samples if s[0] <= t]
    if not before:
        return None
    ts, value, flag = before[-1]  # any sample, valid or not, ends the previous step
    return value if flag in VALID and t < ts + GAP else None


def _conc_at(samples: list[Sample], t: datetime) -> float | None:
    valid = [s for s in samples if s[0] <= t and s[2] in VALID]  # invalid results are skipped
    if not valid:
        return None
    ts, value, _ = valid[-1]
    return value if t < ts + HOLD else None


def independent(
    flow: list[Sample], cod: list[Sample], start: datetime = DAY_START, end: datetime = DAY_END
) -> tuple[float, float, float]:
    """(volume m³, load kg, flow-weighted COD mg/L) by evaluating the rules at every minute."""
    volume = load = load_volume = 0.0
    t = start
    while t < end:
        q = _flow_at(flow, t)
        if q is not None:
            volume += q / 60.0
            c = _conc_at(cod, t)
            if c is not None:
                load += q / 60.0 * c / 1000.0
                load_volume += q / 60.0
        t += MINUTE
    return volume, load, load / load_volume * 1000.0
