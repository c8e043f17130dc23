"""Validation of raw readings against a hand-built directory (pure)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from wqmon.errors import RejectedReading
from wqmon.ingest.directory import ChannelInfo, Directory
from wqmon.ingest.validate import Context, validate_reading
from wqmon.model import RawReading
from wqmon.parameters import by_code

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DIRECTORY = Directory(
    channels={
        ("S1", "inlet", "w00000"): ChannelInfo(1, "S1", "inlet", "inlet", by_code("w00000")),
        ("S1", "inlet", "w01018"): ChannelInfo(2, "S1", "inlet", "inlet", by_code("w01018")),
        ("S1", "inlet", "w01001"): ChannelInfo(3, "S1", "inlet", "inlet", by_code("w01001")),
    }
)
CTX = Context(DIRECTORY, NOW, "test", NOW)


def _raw(parameter: str = "cod", value: float = 250.0, **kw: object) -> RawReading:
    fields: dict[str, object] = {
        "site": "S1",
        "point": "inlet",
        "parameter": parameter,
        "ts": NOW - timedelta(minutes=1),
        "value": value,
    }
    fields.update(kw)
    return RawReading(**fields)  # type: ignore[arg-type]


def _reason(raw: RawReading, ctx: Context = CTX) -> str:
    with pytest.raises(RejectedReading) as info:
        validate_reading(raw, ctx)
    return info.value.reason


def test_valid_reading_is_resolved_and_converted() -> None:
    r = validate_reading(
        _raw(
            "w00000",
            10.0,
            unit="L/s",
            ts=datetime(2025, 6, 1, 19, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
        ),
        CTX,
    )
    assert r.channel_id == 1
    assert r.value == pytest.approx(36.0)  # 10 L/s = 36 m³/h
    assert r.ts == datetime(2025, 6, 1, 11, 0, tzinfo=UTC)
    assert r.flag == "N"
    assert validate_reading(_raw("COD", 250, flag="T"), CTX).flag == "T"
    assert validate_reading(_raw("011"), CTX).channel_id == 2  # HJ/T 212-2005 code


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_raw(value=math.nan), "non_finite"),
        (_raw(value=math.inf), "non_finite"),
        (_raw(value="12"), "non_numeric"),  # type: ignore[arg-type]
        (_raw("flow", -1.0), "negative_flow"),
        (_raw("ph", 15.0), "implausible_value"),
        (_raw(value=1e9), "implausible_value"),
        (_raw("nh3n"), "unknown_channel"),
        (_raw("xyz"), "unknown_parameter"),
        (_raw(site="S2"), "unknown_channel"),
        (_raw(unit="furlong"), "unknown_unit"),
        (_raw(ts=NOW + timedelta(minutes=6)), "future_time"),
        (_raw(ts=datetime(1999, 12, 31, tzinfo=UTC)), "too_old"),
        (_raw(ts=datetime(2025, 6, 1)), "naive_time"),  # noqa: DTZ001 - the point of the test
        (_raw(flag="TOOLONG"), "bad_flag"),
    ],
)
def test_rejections_have_reasons(raw: RawReading, reason: str) -> None:
    assert _reason(raw) == reason


def test_time_just_within_tolerance_is_accepted() -> None:
    assert validate_reading(_raw(ts=NOW + timedelta(minutes=4, seconds=59)), CTX).ts > NOW


def test_gateway_scope() -> None:
    scoped = Context(DIRECTORY, NOW, "mqtt", NOW, allowed_sites=frozenset({"S9"}))
    assert _reason(_raw(), scoped) == "site_not_allowed"
