"""Which polls become readings: sample times, change detection, B on silence, backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wqmon.protocol.modbus.config import DeviceBinding
from wqmon.protocol.modbus.profiles import PointValue, load_profile
from wqmon.protocol.modbus.readings import (
    ChannelMemory,
    failure_readings,
    next_delay,
    poll_readings,
)

T0 = datetime(2025, 3, 1, tzinfo=UTC)
HACH = load_profile("hach-cod")
MAG = load_profile("siemens-mag6000")
UNIFIED = load_profile("china-unified-analyser")


def _binding(profile: str, points: dict[str, str], **options: object) -> DeviceBinding:
    return DeviceBinding(
        "S", "inlet", "Asia/Shanghai", "bus", 1, profile, tuple(points.items()), **options
    )  # type: ignore[arg-type]


def _polls(binding: DeviceBinding, values: list[PointValue], name: str) -> list[tuple]:
    profile = load_profile(binding.profile)
    memory: dict[str, ChannelMemory] = {}
    out = []
    for i, value in enumerate(values):
        found = poll_readings(binding, profile, {name: value}, T0 + timedelta(minutes=i), memory)
        out.extend((i, r.value, r.flag, r.ts, r.unit) for r in found)
    return out


def test_analyser_value_stored_only_when_value_or_flag_changes() -> None:
    binding = _binding("hach-cod", {"cod": "w01018"})
    values = [PointValue(300.0, "N")] * 3 + [PointValue(280.0, "N"), PointValue(280.0, "M")]
    got = _polls(binding, values, "cod")
    assert [(i, v, f) for i, v, f, _ts, _u in got] == [
        (0, 300.0, "N"),
        (3, 280.0, "N"),
        (4, 280.0, "M"),
    ]
    assert got[1][3] == T0 + timedelta(minutes=3)  # stamped with the poll that saw it


def test_store_unchanged_option_and_flow_default() -> None:
    steady = [PointValue(300.0, "N")] * 3
    assert (
        len(_polls(_binding("hach-cod", {"cod": "w01018"}, store_unchanged=True), steady, "cod"))
        == 3
    )
    flows = _polls(
        _binding("siemens-mag6000", {"flow": "w00000"}), [PointValue(0.1, "N")] * 3, "flow"
    )
    assert [(v, u) for _i, v, _f, _ts, u in flows] == [
        (0.1, "m3/s")
    ] * 3  # unit left to the pipeline


def test_sample_time_gives_the_timestamp_and_deduplicates() -> None:
    binding = _binding("china-unified-analyser", {"value": "w21003"})
    s1, s2 = T0 - timedelta(hours=2), T0
    values = [PointValue(5.0, "N", sample_time=s1)] * 2 + [PointValue(6.0, "N", sample_time=s2)]
    got = _polls(binding, values, "value")
    assert [(v, ts) for _i, v, _f, ts, _u in got] == [(5.0, s1), (6.0, s2)]


def test_fault_carries_the_last_good_value() -> None:
    binding = _binding("hach-cod", {"cod": "w01018"})
    got = _polls(binding, [PointValue(300.0, "N"), PointValue(None, "D")], "cod")
    assert [(v, f) for _i, v, f, _ts, _u in got] == [(300.0, "N"), (300.0, "D")]


def test_a_fault_before_any_good_value_is_not_a_reading() -> None:
    binding = _binding("hach-cod", {"cod": "w01018"})
    got = _polls(binding, [PointValue(None, "D"), PointValue(300.0, "N")], "cod")
    assert [(i, v, f) for i, v, f, _ts, _u in got] == [(1, 300.0, "N")]  # no invented 0.0


def test_a_failure_before_any_good_value_is_not_a_reading() -> None:
    """No value was ever measured: nothing to store (the link state is the device's state)."""
    memory: dict[str, ChannelMemory] = {}
    cod = _binding("hach-cod", {"cod": "w01018"})
    assert failure_readings(cod, HACH, T0, memory) == []
    poll_readings(cod, HACH, {"cod": PointValue(300.0, "N")}, T0 + timedelta(minutes=1), memory)
    later = failure_readings(cod, HACH, T0 + timedelta(minutes=2), memory)
    assert [(r.value, r.flag) for r in later] == [(300.0, "B")]


def test_failure_gives_b_once_for_analysers_every_poll_for_flow() -> None:
    memory: dict[str, ChannelMemory] = {"w01018": ChannelMemory(last_value=300.0)}
    cod = _binding("hach-cod", {"cod": "w01018"})
    first = failure_readings(cod, HACH, T0, memory)
    again = failure_readings(cod, HACH, T0 + timedelta(minutes=1), memory)
    assert [(r.value, r.flag) for r in first] == [(300.0, "B")]
    assert again == []
    flow = _binding("siemens-mag6000", {"flow": "w00000"})
    flow_memory: dict[str, ChannelMemory] = {"w00000": ChannelMemory(last_value=450.0)}
    for i in range(3):
        assert [
            r.flag for r in failure_readings(flow, MAG, T0 + timedelta(minutes=i), flow_memory)
        ] == ["B"]
    silent = _binding("hach-cod", {"cod": "w01018"}, on_failure="silent")
    assert failure_readings(silent, HACH, T0, {}) == []


def test_recovery_after_b_stores_the_value_again() -> None:
    memory: dict[str, ChannelMemory] = {}
    cod = _binding("hach-cod", {"cod": "w01018"})
    poll_readings(cod, HACH, {"cod": PointValue(300.0, "N")}, T0, memory)
    failure_readings(cod, HACH, T0 + timedelta(minutes=1), memory)
    back = poll_readings(
        cod, HACH, {"cod": PointValue(300.0, "N")}, T0 + timedelta(minutes=2), memory
    )
    assert [(r.value, r.flag) for r in back] == [(300.0, "N")]


@pytest.mark.parametrize(
    ("errors", "expected"), [(0, 10.0), (1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0), (9, 80.0)]
)
def test_backoff_doubles_up_to_eight_intervals(errors: int, expected: float) -> None:
    assert next_delay(10.0, errors) == expected
