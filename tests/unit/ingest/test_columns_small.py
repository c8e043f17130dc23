"""Small envelopes (an HJ 212 upload: four readings) are validated in plain Python
(`validate_small`); they must come out exactly as from the numpy path (`validate_columns`) and
the reference (`validate_reading`): the same readings kept with the same columns, and the same
refusals with the same reason and detail, on random envelopes with bad values of every kind."""

from __future__ import annotations

import math
from datetime import UTC, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.ingest.test_columns import CTX, DIRECTORY, MIXED, NOW, _reference
from wqmon.ingest import columns
from wqmon.ingest.columns import ReadingBlock, validate_block, validate_columns, validate_small
from wqmon.ingest.directory import Directory
from wqmon.ingest.validate import Context
from wqmon.model import RawReading

ZONES = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5)), None]
NAMES = [
    ("S1", "inlet", "cod"),
    ("S1", "inlet", "w01018"),
    ("S1", "inlet", "flow"),
    ("S1", "inlet", "w00000"),
    ("S1", "inlet", "ph"),
    ("S1", "inlet", "nh3n"),  # unknown_channel
    ("S1", "inlet", "zinc"),  # unknown_parameter
    ("S1", "outlet", "cod"),  # unknown_channel
    ("S2", "out", "cod"),  # site_not_allowed (or a channel when any site is allowed)
]
UNITS = [None, None, None, "mg/L", "L/s", "m3/h", "furlongs"]
FLAGS = ["N", "N", "D", "n", " T ", "", "toolongflag", "B!", "Md"]
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-20, max_value=1000),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.sampled_from([0.0, -0.0, 7.0, 14.0, 14.000001, 1e308, -1e-300]),
)
OFFSETS = st.one_of(
    st.sampled_from([-60.0, 0.0, 300.0, 300.000001, 301.0]),  # around the 5-minute limit
    st.floats(min_value=-30 * 365 * 86400.0, max_value=3600.0),  # back past 2000-01-01
)


@st.composite
def raw_readings(draw: st.DrawFn) -> RawReading:
    site, point, parameter = draw(st.sampled_from(NAMES))
    zone = draw(st.sampled_from(ZONES))
    moment = NOW + timedelta(seconds=draw(OFFSETS))
    ts = moment.replace(tzinfo=None) if zone is None else moment.astimezone(zone)
    value = draw(VALUES)
    return RawReading(
        site,
        point,
        parameter,
        ts,
        value,
        draw(st.sampled_from(UNITS)),
        draw(st.sampled_from(FLAGS)),
    )


@st.composite
def envelopes(draw: st.DrawFn) -> list[RawReading]:
    raws = draw(st.lists(raw_readings(), min_size=1, max_size=columns.SMALL_ENVELOPE))
    if draw(st.booleans()):  # an HJ 212 upload: one time object shared by every reading
        ts = raws[0].ts
        raws = [RawReading(r.site, r.point, r.parameter, ts, r.value, r.unit, r.flag) for r in raws]
    return raws


def _same(small: ReadingBlock, numpy: ReadingBlock) -> None:
    assert small.rows() == numpy.rows()
    assert small.channel_id.dtype == numpy.channel_id.dtype
    assert small.ts_us.dtype == numpy.ts_us.dtype
    assert small.value.dtype == numpy.value.dtype
    assert np.array_equal(small.channel_id, numpy.channel_id)
    assert np.array_equal(small.ts_us, numpy.ts_us)
    assert np.array_equal(small.value, numpy.value)  # no NaN is ever kept
    assert small.flags == numpy.flags
    assert small.ts == numpy.ts


def _check(raws: list[RawReading], ctx: Context) -> None:
    small, small_refused = validate_small(raws, ctx)
    # 1e308 L/s overflows in numpy's multiply: a RuntimeWarning there (an error under pytest),
    # a refusal all the same (the plain path has no such warning).
    with np.errstate(over="ignore"):
        numpy, numpy_refused = validate_columns(raws, ctx)
    _same(small, numpy)
    got = [(i, e.reason, e.detail) for i, e in small_refused]
    assert got == [(i, e.reason, e.detail) for i, e in numpy_refused]
    if ctx is CTX:
        kept, expected = _reference(raws)
        assert got == expected
        assert small.rows() == kept


@settings(max_examples=400, deadline=None)
@given(envelopes())
def test_small_envelopes_agree_with_the_numpy_path_and_the_reference(
    raws: list[RawReading],
) -> None:
    _check(raws, CTX)


@settings(max_examples=100, deadline=None)
@given(envelopes())
def test_they_agree_when_the_source_may_write_any_site(raws: list[RawReading]) -> None:
    _check(raws, Context(DIRECTORY, NOW, "test", NOW))


def test_every_rule_of_the_mixed_envelope_in_small_pieces() -> None:
    for start in range(0, len(MIXED), 4):
        _check(MIXED[start : start + 4], CTX)
    _check(MIXED[:16], CTX)


def test_values_that_are_not_numbers() -> None:
    raws = [*MIXED[:3], RawReading("S1", "inlet", "cod", NOW, True), MIXED[7]]  # type: ignore[arg-type]
    raws.append(RawReading("S1", "inlet", "cod", NOW, "12"))  # type: ignore[arg-type]
    _check(raws, CTX)


def test_up_to_sixteen_readings_take_the_small_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = columns.validate_small

    def spy(raws: list[RawReading], ctx: Context) -> object:
        calls.append(len(raws))
        return real(raws, ctx)

    monkeypatch.setattr(columns, "validate_small", spy)
    validate_block(MIXED[:16], CTX)
    validate_block(MIXED[:17], CTX)
    assert calls == [16]


def test_a_channel_is_resolved_once_per_registry_snapshot() -> None:
    directory = Directory(channels=dict(DIRECTORY.channels))
    ctx = Context(directory, NOW, "test", NOW)
    raws = [RawReading("S1", "inlet", "cod", NOW, 1.0), RawReading("S1", "inlet", "zinc", NOW, 1.0)]
    validate_block(raws, ctx)
    assert list(directory.limits_memo()) == [("S1", "inlet", "cod", None)]  # refusals not kept
    directory.limits_memo()[("S1", "inlet", "cod", None)] = (2.0, -math.inf, math.inf, 99)
    block, _ = validate_block(raws[:1], ctx)
    assert (block.channel_id.tolist(), block.value.tolist()) == ([99], [2.0])  # from the memo
