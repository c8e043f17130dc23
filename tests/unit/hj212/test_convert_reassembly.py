"""Conversion of uploads into records, the unit check, and split-packet reassembly."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from wqmon.errors import FrameError
from wqmon.model import Period, RawPeriodRecord
from wqmon.protocol.hj212.convert import PointBinding, check_period_units, convert_packet
from wqmon.protocol.hj212.packet import parse_segment
from wqmon.protocol.hj212.reassembly import Reassembler

BINDING = PointBinding(site="WWTP-01", point="inlet", role="inlet", tz=ZoneInfo("Asia/Shanghai"))


def test_realtime_sample_time_makes_repeats_idempotent() -> None:
    first = parse_segment(
        "QN=1;ST=32;CN=2011;PW=P;MN=M;Flag=4;CP=&&DataTime=20240123123200;"
        "w01018-Rtd=35.2,w01018-SampleTime=20240123110306,w01018-Flag=N;w00000-Rtd=12.5&&"
    )
    second = parse_segment(
        "QN=2;ST=32;CN=2011;PW=P;MN=M;Flag=4;CP=&&DataTime=20240123131000;"
        "w01018-Rtd=35.2,w01018-SampleTime=20240123110306,w01018-Flag=N;w00000-Rtd=13.0&&"
    )
    a, b = convert_packet(first, BINDING), convert_packet(second, BINDING)
    cod_a = next(r for r in a.readings if r.parameter == "w01018")
    cod_b = next(r for r in b.readings if r.parameter == "w01018")
    assert cod_a == cod_b
    assert cod_a.ts == datetime(2024, 1, 23, 3, 3, 6, tzinfo=UTC)
    flow = next(r for r in a.readings if r.parameter == "w00000")
    assert (flow.ts, flow.unit, flow.flag) == (datetime(2024, 1, 23, 4, 32, tzinfo=UTC), "L/s", "N")


def test_unknown_codes_and_bad_values_are_rejected_item_by_item() -> None:
    packet = parse_segment(
        "CN=2011;MN=M;CP=&&DataTime=20240101000000;a21-Rtd=1;LD4-Rtd=2;w01018-Rtd=---;"
        "w21003-Rtd=nan;w01001-Rtd=7.1;w21011-Flag=N;w21001-Rtd=3,w21001-SampleTime=bad&&"
    )
    out = convert_packet(packet, BINDING)
    assert [r.parameter for r in out.readings] == ["w01001"]
    assert {(r.code, r.reason) for r in out.rejected} == {
        ("a21", "unknown_parameter"),
        ("LD4", "unknown_parameter"),
        ("w01018", "non_numeric"),
        ("w21003", "non_numeric"),
        ("w21011", "no_value"),
        ("w21001", "bad_time"),
    }


def test_old_codes_and_e_codes_through_the_code_map() -> None:
    binding = PointBinding(
        site="S", point="inlet", role="inlet", tz=ZoneInfo("Asia/Shanghai"), code_map={"x1": "cod"}
    )
    packet = parse_segment(
        "ST=52;CN=2011;MN=M;CP=&&DataTime=20240101000000;e10201-Rtd=250;E10101-Rtd=30;"
        "x1-Rtd=7;065-Rtd=20;101-Rtd=2&&"
    )
    out = convert_packet(packet, binding)
    assert [(r.parameter, r.value, r.unit) for r in out.readings] == [
        ("w01018", 250.0, None),
        ("w00000", 30.0, "L/s"),
        ("w01018", 7.0, None),
        ("w21001", 20.0, None),
        ("w21011", 2.0, None),
    ]
    assert out.rejected == []


@pytest.mark.parametrize(
    ("cn", "period"), [("2051", Period.MINUTE), ("2061", Period.HOUR), ("2031", Period.DAY)]
)
def test_period_records_start_at_data_time(cn: str, period: Period) -> None:
    packet = parse_segment(
        f"CN={cn};MN=M;Flag=5;CP=&&DataTime=20160801000000;w01018-Avg=30,w01018-Min=20,"
        "w01018-Max=40,w01018-Cou=45.36,w01018-Flag=D;w00000-Avg=17.5,w00000-Cou=1512.0&&"
    )
    out = convert_packet(packet, BINDING)
    cod = out.periods[0]
    assert cod == RawPeriodRecord(
        site="WWTP-01",
        point="inlet",
        parameter="w01018",
        period=period,
        ts=datetime(2016, 7, 31, 16, 0, tzinfo=UTC),
        avg=30.0,
        min=20.0,
        max=40.0,
        cou=45.36,
        unit=None,
        flag="D",
    )
    assert out.periods[1].unit == "L/s"
    assert out.warnings == []


def test_unit_check_reports_inconsistent_mass() -> None:
    packet = parse_segment(
        "CN=2061;MN=M;CP=&&DataTime=20160801000000;w01018-Avg=30,w01018-Cou=4.5;"
        "w21003-Avg=2,w21003-Cou=0.13;w01001-Avg=7;w00000-Cou=63&&"
    )
    out = convert_packet(packet, BINDING)
    assert [w.parameter for w in out.warnings] == ["w01018"]
    assert "1.89 kg" in str(out.warnings[0])
    assert check_period_units(out.periods[:1]) == []


def test_non_data_commands_convert_to_nothing_and_uploads_need_data_time() -> None:
    assert convert_packet(parse_segment("CN=9014;MN=M;CP=&&&&"), BINDING).readings == []
    with pytest.raises(FrameError, match="DataTime"):
        convert_packet(parse_segment("CN=2011;MN=M;CP=&&w01018-Rtd=1&&"), BINDING)
    with pytest.raises(FrameError, match="DataTime"):
        convert_packet(parse_segment("CN=2011;MN=M;CP=&&DataTime=2024;w01018-Rtd=1&&"), BINDING)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _piece(qn: str, pno: int, body: str, data_time: str | None = "20160801085857") -> str:
    dt = f"DataTime={data_time};" if data_time else ""
    return f"QN={qn};ST=32;CN=2011;PW=P;MN=M;Flag=7;PNUM=2;PNO={pno};CP=&&{dt}{body}&&"


def test_split_pieces_are_merged_in_pno_order() -> None:
    reassembler = Reassembler(clock=FakeClock())
    second = parse_segment(_piece("535", 2, "w01018-Rtd=30,w01018-Flag=N"))
    first = parse_segment(_piece("534", 1, "w00000-Rtd=17.5;w01018-SampleTime=20160801070000"))
    assert reassembler.add(second) is None
    done = reassembler.add(first)
    assert done is not None
    assert [p.qn for p in done.parts] == ["534", "535"]
    merged = done.packet
    assert (merged.qn, merged.flag, merged.pnum, merged.pno) == ("534", 5, None, None)
    assert merged.cp.items["w01018"] == {
        "SampleTime": "20160801070000",
        "Rtd": "30",
        "Flag": "N",
    }
    assert reassembler.open_groups == 0


def test_unsplit_packet_passes_straight_through() -> None:
    packet = parse_segment("CN=2011;MN=M;Flag=5;CP=&&DataTime=20160801085857&&")
    done = Reassembler().add(packet)
    assert done is not None
    assert done.packet is packet


def test_pieces_without_data_time_attach_to_the_first_qn() -> None:
    reassembler = Reassembler(clock=FakeClock())
    assert reassembler.add(parse_segment(_piece("10", 1, "i13001-Info=1", None))) is None
    done = reassembler.add(parse_segment(_piece("11", 2, "i13002-Info=2", None)))
    assert done is not None
    assert set(done.packet.cp.items) == {"i13001", "i13002"}


def test_incomplete_groups_expire() -> None:
    clock = FakeClock()
    reassembler = Reassembler(timeout_s=30, clock=clock)
    reassembler.add(parse_segment(_piece("1", 1, "w01018-Rtd=1")))
    clock.now = 29.0
    assert reassembler.expire() == []
    clock.now = 30.0
    (expired,) = reassembler.expire()
    assert expired.pnum == 2
    assert [p.qn for p in expired.parts] == ["1"]
    assert "missing PNO [2]" in expired.reason
    assert reassembler.open_groups == 0
