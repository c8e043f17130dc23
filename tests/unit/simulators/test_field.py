"""The simulated field: determinism for a seed, plausible ranges, episodes and faults."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from wqmon.simulators.field import (
    COD,
    FLOW,
    NH3N,
    PH,
    TP,
    Episode,
    EpisodeKind,
    FieldModel,
    MeterPoint,
    smooth_noise,
    unit_noise,
)

PARAMS = (FLOW, COD, NH3N, TP, PH)
INLET = MeterPoint("P1", "inlet", "inlet", PARAMS, mean_flow_m3_h=3000.0)
OUTLET = MeterPoint("P1", "outlet", "outlet", PARAMS, mean_flow_m3_h=3000.0, limits={COD: 50.0})
T0 = datetime(2025, 6, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def week(step: timedelta = timedelta(minutes=20)) -> list[datetime]:
    return [T0 + step * i for i in range(int(timedelta(days=7) / step))]


def test_same_seed_same_values_in_any_order() -> None:
    a, b = FieldModel(7, [INLET]), FieldModel(7, [INLET])
    times = week()
    forward = [a.sample(INLET, COD, t) for t in times]
    backward = [b.sample(INLET, COD, t) for t in reversed(times)][::-1]
    assert forward == backward


def test_another_seed_gives_other_values() -> None:
    a, b = FieldModel(1, [INLET]), FieldModel(2, [INLET])
    assert [a.water(INLET, COD, t) for t in week()] != [b.water(INLET, COD, t) for t in week()]


def test_noise_is_bounded_and_smooth() -> None:
    values = [unit_noise(3, "k", i) for i in range(1000)]
    assert all(0 <= v < 1 for v in values)
    assert 0.4 < sum(values) / len(values) < 0.6
    steps = [smooth_noise(3, "k", T0 + timedelta(minutes=i), HOUR) for i in range(600)]
    assert all(-1 <= v <= 1 for v in steps)
    assert max(abs(x - y) for x, y in itertools.pairwise(steps)) < 0.1


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_ranges_without_episodes(seed: int) -> None:
    model = FieldModel(seed, [INLET, OUTLET])
    inlet_cod = [model.water(INLET, COD, t) for t in week()]
    outlet_cod = [model.water(OUTLET, COD, t) for t in week()]
    assert min(inlet_cod) >= 150
    assert max(inlet_cod) <= 450
    assert min(outlet_cod) >= 15
    assert max(outlet_cod) <= 45
    assert all(6.0 <= model.water(INLET, PH, t) <= 8.5 for t in week())
    assert all(0 < model.water(OUTLET, TP, t) < 0.5 for t in week())


def test_diurnal_flow_low_at_night_high_in_the_day() -> None:
    model = FieldModel(5, [INLET])
    # 04:00 and 11:00 in Asia/Shanghai (UTC+8)
    night = [model.water(INLET, FLOW, T0 + timedelta(days=d, hours=20)) for d in range(7)]
    day = [model.water(INLET, FLOW, T0 + timedelta(days=d, hours=3)) for d in range(7)]
    assert max(night) < min(day)
    mean = sum(model.water(INLET, FLOW, t) for t in week()) / len(week())
    assert 0.9 * 3000 < mean < 1.1 * 3000


def test_analyser_holds_its_result_between_samples() -> None:
    model = FieldModel(11, [INLET])
    cycle = model.analyser_cycle(INLET, COD)
    assert cycle in (timedelta(minutes=60), timedelta(minutes=90), timedelta(minutes=120))
    taken = model.last_sample_time(INLET, COD, T0 + 3 * HOUR)
    first = model.sample(INLET, COD, taken)
    later = model.sample(INLET, COD, taken + cycle - timedelta(seconds=1))
    assert first == later
    assert first.sample_time == taken
    assert model.sample(INLET, COD, taken + cycle).sample_time == taken + cycle
    assert model.sample(INLET, FLOW, T0).sample_time is None


def test_rain_dilutes_influent_below_260_and_raises_flow() -> None:
    rain = Episode(EpisodeKind.RAIN, "P1", T0 + 24 * HOUR, T0 + 48 * HOUR, factor=0.6)
    dry, wet = FieldModel(4, [INLET]), FieldModel(4, [INLET], [rain])
    during = [T0 + 26 * HOUR + timedelta(minutes=10 * i) for i in range(120)]
    assert all(150 <= wet.water(INLET, COD, t) < 260 for t in during)
    assert all(wet.water(INLET, FLOW, t) > dry.water(INLET, FLOW, t) for t in during)
    assert wet.water(INLET, COD, T0 + 50 * HOUR) == dry.water(INLET, COD, T0 + 50 * HOUR)


def test_exceedance_is_above_the_points_limit() -> None:
    episode = Episode(EpisodeKind.EXCEEDANCE, "P1", T0, T0 + 3 * HOUR, "outlet", COD, 1.25)
    model = FieldModel(4, [OUTLET], [episode])
    during = [T0 + timedelta(minutes=5 * i) for i in range(36)]
    assert all(model.water(OUTLET, COD, t) > 50 for t in during)
    assert model.water(OUTLET, COD, T0 + 4 * HOUR) <= 45
    assert model.water(OUTLET, NH3N, T0) < 5  # only COD exceeds


def test_flatline_freezes_values_and_flags_mark_them() -> None:
    episodes = [
        Episode(EpisodeKind.FLATLINE, "P1", T0, T0 + 4 * HOUR, "inlet", PH),
        Episode(EpisodeKind.FLAG, "P1", T0, T0 + HOUR, "inlet", COD, flag="C"),
    ]
    model = FieldModel(9, [INLET], episodes)
    ph = {model.sample(INLET, PH, T0 + timedelta(minutes=m)).value for m in range(0, 240, 7)}
    assert len(ph) == 1
    assert model.sample(INLET, COD, T0 + timedelta(minutes=30)).flag == "C"
    assert model.sample(INLET, NH3N, T0 + timedelta(minutes=30)).flag == "N"
    assert model.sample(INLET, COD, T0 + 2 * HOUR).flag == "N"


def test_transport_faults_are_reported_while_active() -> None:
    episodes = [
        Episode(EpisodeKind.OFFLINE, "P1", T0, T0 + HOUR, "inlet"),
        Episode(EpisodeKind.CLOCK_SKEW, "P1", T0, T0 + HOUR, factor=90),
        Episode(EpisodeKind.RESEND, "P1", T0, T0 + HOUR, "outlet"),
        Episode(EpisodeKind.CORRUPT, "P1", T0, T0 + HOUR, "outlet"),
    ]
    model = FieldModel(1, [INLET, OUTLET], episodes)
    assert model.offline(INLET, T0)
    assert not model.offline(OUTLET, T0)
    assert not model.offline(INLET, T0 + HOUR)
    assert model.clock_skew(OUTLET, T0) == timedelta(seconds=90)
    assert model.resend(OUTLET, T0)
    assert model.corrupt(OUTLET, T0)
    assert not model.resend(INLET, T0)
