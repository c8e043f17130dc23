"""A simulated field of water-quality meters: pure models, deterministic for a seed.

Every value is a pure function of (seed, site, point, parameter, time): no state, no call-order
dependence, so a backfill and a live run agree, and a test can ask for any instant. What the
models do (docs/field-facts.md §4, §7, §9):

- Flow meters are continuous: a municipal plant follows a diurnal curve scaled to its capacity
  (low at 4 am, peaks late morning and evening); an enterprise follows its production shifts.
- Analysers (COD, NH3-N, TP, TN) sample every 60, 90 or 120 minutes (per point, by seed) and
  hold the result until the next sample; each value carries the instant it was sampled
  (HJ 212 `SampleTime`). pH is a continuous probe.
- Influent COD stays within 150–450 mg/L; a rain episode dilutes it below 260 mg/L and raises
  the flow. Outlet COD stays within 15–45 mg/L; an exceedance episode puts it above the point's
  limit.
- Faults on purpose, as episodes: offline, flat line, instrument flags (M, C, D ...), clock skew,
  resends and corrupted frames. The transports (`runner.py`) ask the model which are active.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo

FLOW, COD, NH3N, TP, TN, PH = "w00000", "w01018", "w21003", "w21011", "w21001", "w01001"
ANALYSED = frozenset({COD, NH3N, TP, TN})  # held between samples; flow and pH are continuous
INFLUENT_COD_RANGE = (150.0, 450.0)
LOW_INFLUENT_COD = 260.0  # below this a plant's influent is diluted (docs/field-facts.md §9)
OUTLET_COD_RANGE = (15.0, 45.0)
DEFAULT_COD_LIMIT = 50.0  # GB 18918-2002 Class 1-A
ANALYSER_CYCLES_MIN = (60, 90, 120)
SHANGHAI = ZoneInfo("Asia/Shanghai")

# Hourly flow factors of a municipal plant's inlet (local time), normalised to a mean of 1 below.
_WWTP_CURVE = (
    0.70, 0.62, 0.56, 0.52, 0.50, 0.55, 0.70, 0.92, 1.10, 1.22, 1.28, 1.26,
    1.20, 1.12, 1.06, 1.02, 1.04, 1.12, 1.22, 1.30, 1.28, 1.16, 0.98, 0.82,
)  # fmt: skip
# An enterprise running two shifts (06–22 h) with a small night flow of cleaning water.
_SHIFTS = range(6, 22)
_SHIFT_CURVE = tuple(1.25 if hour in _SHIFTS else 0.35 for hour in range(24))

# Concentration levels (low, high) of the underlying water by role and parameter, mg/L or pH.
_LEVELS: dict[str, dict[str, tuple[float, float]]] = {
    "inlet": {COD: (280, 380), NH3N: (20, 35), TP: (3, 6), TN: (30, 50), PH: (6.9, 7.6)},
    "outlet": {COD: (20, 32), NH3N: (0.5, 3), TP: (0.15, 0.4), TN: (8, 13), PH: (6.8, 7.5)},
    "discharge": {COD: (150, 320), NH3N: (10, 30), TP: (1, 4), TN: (20, 40), PH: (6.8, 8.2)},
}


_DECIMALS = {COD: 1, TP: 3}  # others: 2


class EpisodeKind(StrEnum):
    """What an episode does to a point while it lasts."""

    RAIN = "rain"  # concentrations × factor (dilution), flow × 1.35
    EXCEEDANCE = "exceedance"  # the parameter (COD by default) at limit × factor
    OFFLINE = "offline"  # the point sends nothing
    FLATLINE = "flatline"  # values frozen at the episode's start (suspected tampering)
    FLAG = "flag"  # values carry `flag` (M maintenance, C calibration, D fault ...)
    CLOCK_SKEW = "clock_skew"  # the logger's clock is `factor` seconds off
    RESEND = "resend"  # every upload is sent twice (a logger that missed our answer)
    CORRUPT = "corrupt"  # a corrupted frame or body goes out before each good one


@dataclass(frozen=True, slots=True)
class Episode:
    """A scripted or seeded event on one point (or every point of a site)."""

    kind: EpisodeKind
    site: str
    start: datetime
    end: datetime
    point: str | None = None  # None: every point of the site
    parameter: str | None = None  # a code; None: every parameter (EXCEEDANCE: COD)
    factor: float = 1.0
    flag: str = "N"

    def covers(self, site: str, point: str, t: datetime, parameter: str | None = None) -> bool:
        """Whether the episode applies to this point (and parameter) at `t`."""
        if self.site != site or (self.point is not None and self.point != point):
            return False
        if parameter is not None and self.parameter is not None and self.parameter != parameter:
            return False
        return self.start <= t < self.end


@dataclass(frozen=True, slots=True)
class MeterPoint:
    """A monitoring point of the field and what its meters measure."""

    site: str
    point: str
    role: str  # inlet | outlet | discharge
    parameters: tuple[str, ...]  # HJ 212-2017 codes
    mean_flow_m3_h: float
    limits: Mapping[str, float] = field(default_factory=dict)  # code → upper limit
    municipal: bool = True  # diurnal curve (plant) or production shifts (enterprise)
    tz: tzinfo = SHANGHAI

    @property
    def key(self) -> str:
        return f"{self.site}/{self.point}"


@dataclass(frozen=True, slots=True)
class Sample:
    """What a meter shows at an instant."""

    value: float
    flag: str = "N"
    sample_time: datetime | None = None  # when an analyser took the sample; None: continuous


def unit_noise(seed: int, *key: object) -> float:
    """A uniform number in [0, 1) fixed by the seed and key (a stateless random draw)."""
    text = "\x1f".join(str(part) for part in (seed, *key)).encode()
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return float(struct.unpack(">Q", digest)[0]) / 2.0**64


def smooth_noise(seed: int, key: str, t: datetime, period: timedelta) -> float:
    """Noise in [-1, 1] that drifts smoothly: cosine interpolation between knots `period` apart."""
    position = t.timestamp() / period.total_seconds()
    knot = math.floor(position)
    weight = (1 - math.cos(math.pi * (position - knot))) / 2
    before = unit_noise(seed, key, knot) * 2 - 1
    after = unit_noise(seed, key, knot + 1) * 2 - 1
    return before + (after - before) * weight


def _curve_factor(curve: tuple[float, ...], local: datetime) -> float:
    mean = sum(curve) / len(curve)
    hour = local.hour + local.minute / 60 + local.second / 3600
    low = int(hour) % 24
    high = (low + 1) % 24
    frac = hour - int(hour)
    return (curve[low] * (1 - frac) + curve[high] * frac) / mean


class FieldModel:
    """The deterministic field: meter values and active faults of every point, for a seed."""

    def __init__(
        self, seed: int, points: Iterable[MeterPoint], episodes: Iterable[Episode] = ()
    ) -> None:
        self.seed = seed
        self.points = {p.key: p for p in points}
        self.episodes = tuple(episodes)

    def point(self, site: str, point: str) -> MeterPoint:
        return self.points[f"{site}/{point}"]

    def active(
        self, kind: EpisodeKind, mp: MeterPoint, t: datetime, parameter: str | None = None
    ) -> Episode | None:
        """The first episode of this kind covering the point at `t`, if any."""
        for episode in self.episodes:
            if episode.kind is kind and episode.covers(mp.site, mp.point, t, parameter):
                return episode
        return None

    def offline(self, mp: MeterPoint, t: datetime) -> bool:
        return self.active(EpisodeKind.OFFLINE, mp, t) is not None

    def clock_skew(self, mp: MeterPoint, t: datetime) -> timedelta:
        episode = self.active(EpisodeKind.CLOCK_SKEW, mp, t)
        return timedelta(seconds=episode.factor) if episode else timedelta(0)

    def resend(self, mp: MeterPoint, t: datetime) -> bool:
        return self.active(EpisodeKind.RESEND, mp, t) is not None

    def corrupt(self, mp: MeterPoint, t: datetime) -> bool:
        return self.active(EpisodeKind.CORRUPT, mp, t) is not None

    def analyser_cycle(self, mp: MeterPoint, code: str) -> timedelta:
        """How often this point's analyser for `code` samples (60, 90 or 120 min)."""
        pick = int(unit_noise(self.seed, mp.key, code, "cycle") * len(ANALYSER_CYCLES_MIN))
        return timedelta(minutes=ANALYSER_CYCLES_MIN[pick])

    def last_sample_time(self, mp: MeterPoint, code: str, t: datetime) -> datetime:
        """The analyser's most recent sampling instant at or before `t`."""
        cycle = self.analyser_cycle(mp, code).total_seconds()
        offset = unit_noise(self.seed, mp.key, code, "offset") * cycle
        instant = math.floor((t.timestamp() - offset) / cycle) * cycle + offset
        return datetime.fromtimestamp(instant, UTC)

    def snapshot(self, mp: MeterPoint, t: datetime) -> dict[str, Sample]:
        """Every parameter of the point as its meters show it at `t`."""
        return {code: self.sample(mp, code, t) for code in mp.parameters}

    def sample(self, mp: MeterPoint, code: str, t: datetime) -> Sample:
        """What the meter for `code` shows at `t` (held analyser result, flag, sample time)."""
        flatline = self.active(EpisodeKind.FLATLINE, mp, t, code)
        if flatline is not None and t > flatline.start:
            frozen = self.sample(mp, code, flatline.start)
            return Sample(frozen.value, self._flag(mp, code, t), frozen.sample_time)
        if code in ANALYSED:
            taken = self.last_sample_time(mp, code, t)
            return Sample(self.water(mp, code, taken), self._flag(mp, code, t), taken)
        return Sample(self.water(mp, code, t), self._flag(mp, code, t))

    def _flag(self, mp: MeterPoint, code: str, t: datetime) -> str:
        episode = self.active(EpisodeKind.FLAG, mp, t, code)
        return episode.flag if episode else "N"

    def water(self, mp: MeterPoint, code: str, t: datetime) -> float:
        """The true value of the water at `t` (what an ideal continuous meter would read)."""
        if code == FLOW:
            return round(self._flow(mp, t), 2)
        return round(self._concentration(mp, code, t), _DECIMALS.get(code, 2))

    def _flow(self, mp: MeterPoint, t: datetime) -> float:
        # The outlet sees the inlet's water about an hour later, less sludge and losses.
        lagged = t - timedelta(hours=1) if mp.role == "outlet" else t
        curve = _WWTP_CURVE if mp.municipal else _SHIFT_CURVE
        flow = mp.mean_flow_m3_h * _curve_factor(curve, lagged.astimezone(mp.tz))
        flow *= 1 + 0.04 * smooth_noise(self.seed, f"{mp.key}/flow", t, timedelta(minutes=20))
        if self.active(EpisodeKind.RAIN, mp, t) is not None:
            flow *= 1.35
        return flow * (0.97 if mp.role == "outlet" else 1.0)

    def _concentration(self, mp: MeterPoint, code: str, t: datetime) -> float:
        low, high = self._level_range(mp, code)
        level = low + (high - low) * unit_noise(self.seed, mp.key, code, "level")
        drift = smooth_noise(self.seed, f"{mp.key}/{code}", t, timedelta(hours=3))
        # Instrument noise per reading, so a healthy meter never repeats itself for hours
        # (identical values are what the flat-line rule looks for).
        jitter = unit_noise(self.seed, mp.key, code, t.timestamp()) * 2 - 1
        if code == PH:
            return min(8.5, max(6.0, level + 0.2 * drift + 0.03 * jitter))
        value = level * (1 + 0.10 * drift + 0.015 * jitter)
        if mp.municipal and mp.role == "inlet":
            # The morning and evening loads are richer as well as larger.
            value *= 0.88 + 0.12 * _curve_factor(_WWTP_CURVE, t.astimezone(mp.tz))
        value = self._episodes_on(mp, code, t, value)
        return max(value, 0.0)

    def _level_range(self, mp: MeterPoint, code: str) -> tuple[float, float]:
        low, high = _LEVELS.get(mp.role, _LEVELS["discharge"]).get(code, (1.0, 5.0))
        limit = mp.limits.get(code)
        if mp.role == "discharge" and limit is not None and code != PH:
            # An enterprise runs at 35–65 % of its permit, not at a fixed level.
            return 0.35 * limit, 0.65 * limit
        return low, high

    def _episodes_on(self, mp: MeterPoint, code: str, t: datetime, value: float) -> float:
        rain = self.active(EpisodeKind.RAIN, mp, t)
        if rain is not None and mp.role == "inlet":
            value *= rain.factor
            if code == COD:  # diluted influent: always below the 260 mg/L line
                return min(max(value, INFLUENT_COD_RANGE[0]), LOW_INFLUENT_COD - 10)
        exceed = self.active(EpisodeKind.EXCEEDANCE, mp, t, code)
        if exceed is not None and code == (exceed.parameter or COD):
            limit = mp.limits.get(code, DEFAULT_COD_LIMIT)
            wobble = 1 + 0.05 * smooth_noise(self.seed, f"{mp.key}/ex", t, timedelta(hours=1))
            return limit * exceed.factor * wobble
        if code == COD and mp.role == "inlet":
            return min(max(value, INFLUENT_COD_RANGE[0]), INFLUENT_COD_RANGE[1])
        if code == COD and mp.role == "outlet":
            return min(max(value, OUTLET_COD_RANGE[0]), OUTLET_COD_RANGE[1])
        return value
