"""Packet parsing, builders and the build → parse round trip."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wqmon.errors import FrameError
from wqmon.protocol.hj212 import builder
from wqmon.protocol.hj212.framer import Frame, FrameReader
from wqmon.protocol.hj212.packet import normalise_code, parse_segment, parse_time

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _parse_frame(frame: bytes):
    (result,) = FrameReader().feed(frame)
    assert isinstance(result, Frame)
    return parse_segment(result.segment)


def test_fields_by_key_in_any_order_with_padded_pno() -> None:
    packet = parse_segment(
        "ST=32;CN=2061;QN=20160801085857534;PW=123456;MN=ABC;Flag=7;PNO=0002;PNUM=0002;"
        "CP=&&DataTime=20160801080000;w01018-Avg=40.1&&"
    )
    assert (packet.cn, packet.qn, packet.mn, packet.pw, packet.st) == (
        "2061",
        "20160801085857534",
        "ABC",
        "123456",
        "32",
    )
    assert (packet.pnum, packet.pno) == (2, 2)
    assert packet.ack_requested
    assert packet.split
    assert packet.version == 1


@pytest.mark.parametrize(
    ("flag", "ack", "split", "version"),
    [("4", False, False, 1), ("5", True, False, 1), ("6", False, True, 1), ("9", True, False, 2)],
)
def test_flag_bits(flag: str, ack: bool, split: bool, version: int) -> None:
    packet = parse_segment(f"CN=2011;MN=X;Flag={flag};CP=&&&&")
    assert (packet.ack_requested, packet.split, packet.version) == (ack, split, version)


def test_absent_flag_means_version_0_and_answer_anyway() -> None:
    packet = parse_segment("ST=32;CN=2011;PW=000000;MN=LD1;CP=&&DataTime=20160824003817&&")
    assert packet.flag is None
    assert packet.qn is None
    assert packet.ack_requested
    assert not packet.split
    assert packet.version == 0


def test_cp_items_split_at_last_dash_merged_and_case_folded() -> None:
    packet = parse_segment(
        "CN=2011;MN=X;CP=&&DataTime=20240101000000;Nh3-scr-Rtd=1.5;W01018-rtd=30,"
        "w01018-Flag=N;;01-ZsRtd=0;02-ZsRtd=0;01-Rtd=7,w00000-Flag=N;&&"
    )
    items = packet.cp.items
    assert items["Nh3-scr"] == {"Rtd": "1.5"}
    assert items["w01018"] == {"Rtd": "30", "Flag": "N"}
    assert items["01"] == {"ZsRtd": "0", "Rtd": "7"}
    assert items["w00000"] == {"Flag": "N"}
    assert packet.cp.fields == {"DataTime": "20240101000000"}


def test_begin_and_end_time_separated_by_comma_or_semicolon() -> None:
    for sep in (",", ";"):
        packet = parse_segment(
            f"CN=2061;MN=X;CP=&&BeginTime=20160801080000{sep}EndTime=20160801090000&&"
        )
        assert packet.cp.fields == {"BeginTime": "20160801080000", "EndTime": "20160801090000"}


@pytest.mark.parametrize(
    ("segment", "reason"),
    [
        ("QN=1;MN=X;CP=&&&&", "no CN"),
        ("QN=1;CN=2011;CP=&&&&", "no MN"),
        ("QN=1;CN=2011;MN=X", "no CP"),
        ("QN=1;CN=2011;MN=X;CP=&&DataTime=1", "not closed"),
        ("CN=2011;MN=X;Flag=five;CP=&&&&", "Flag"),
        ("CN=2011;MN=X;Flag=7;PNUM=x;PNO=1;CP=&&&&", "PNUM"),
    ],
)
def test_unparsable_segments_raise_frame_error(segment: str, reason: str) -> None:
    with pytest.raises(FrameError, match=reason) as info:
        parse_segment(segment)
    assert info.value.raw == segment.encode()


def test_empty_mn_is_parsed_for_the_caller_to_reject() -> None:
    assert parse_segment("CN=2011;PW=;MN=;CP=&&&&").mn == ""


def test_parse_time_with_and_without_milliseconds() -> None:
    assert parse_time("20160801085857", SHANGHAI).astimezone(UTC) == datetime(
        2016, 8, 1, 0, 58, 57, tzinfo=UTC
    )
    assert parse_time("20210305003817123", SHANGHAI).microsecond == 123000
    with pytest.raises(ValueError, match="HJ 212 time"):
        parse_time("2016-08-01", SHANGHAI)


def test_normalise_code() -> None:
    assert normalise_code("W01018") == "w01018"
    assert normalise_code("E10201") == "e10201"
    assert normalise_code("B01") == "B01"


def test_data_answer_matches_appendix_c() -> None:
    upload = parse_segment(
        "QN=20160801085857534;ST=32;CN=2061;PW=123456;MN=010000A8900016F000169DC0;Flag=5;"
        "CP=&&DataTime=20160801080000&&"
    )
    answer = _parse_frame(builder.data_answer(upload))
    assert builder.data_answer(upload).startswith(
        b"##0087QN=20160801085857534;ST=91;CN=9014;PW=123456;MN=010000A8900016F000169DC0;"
        b"Flag=4;CP=&&&&"
    )
    assert (answer.cn, answer.flag, answer.cp.fields, answer.cp.items) == ("9014", 4, {}, {})


def test_answers_to_a_flagless_2005_packet_have_flag_0() -> None:
    upload = parse_segment("ST=32;CN=2011;PW=000000;MN=LD1;CP=&&DataTime=20160824003817&&")
    answer = _parse_frame(builder.notify_answer(upload))
    assert (answer.cn, answer.flag, answer.st, answer.qn) == ("9013", 0, "91", None)


def test_set_time_and_history_commands() -> None:
    moment = datetime(2024, 1, 1, 0, 0, 5, tzinfo=UTC)
    cmd = _parse_frame(
        builder.set_time_command(qn="1", mn="M", pw="P", system_time=moment, tz=SHANGHAI)
    )
    assert (cmd.cn, cmd.flag, cmd.cp.fields) == ("1012", 5, {"SystemTime": "20240101080005"})
    pull = _parse_frame(
        builder.history_request(
            cn="2061", qn="2", mn="M", pw="P", begin=moment, end=moment, tz=SHANGHAI
        )
    )
    assert pull.cp.fields == {"BeginTime": "20240101080005", "EndTime": "20240101080005"}
    with pytest.raises(ValueError, match="history"):
        builder.history_request(
            cn="2011", qn="2", mn="M", pw="P", begin=moment, end=moment, tz=SHANGHAI
        )


def test_execution_and_request_answers() -> None:
    command = parse_segment("QN=7;ST=32;CN=1012;PW=P;MN=M;Flag=5;CP=&&SystemTime=20240101000000&&")
    assert _parse_frame(builder.request_answer(command, 1)).cp.fields == {"QnRtn": "1"}
    assert _parse_frame(builder.execution_result(command, 100)).cp.fields == {"ExeRtn": "100"}


def test_split_upload_numbers_the_pieces() -> None:
    objects = {f"w0101{i}": {"Rtd": float(i)} for i in range(5)}
    segments = builder.upload_segments(
        cn="2011",
        mn="M",
        pw="P",
        data_time=datetime(2024, 1, 1, tzinfo=UTC),
        tz=SHANGHAI,
        objects=objects,
        qns=["1", "2", "3"],
        flag=5,
        codes_per_packet=2,
    )
    packets = [parse_segment(s) for s in segments]
    assert [(p.pnum, p.pno, p.flag) for p in packets] == [(3, 1, 7), (3, 2, 7), (3, 3, 7)]
    assert builder.split_count(objects, 2) == 3
    with pytest.raises(ValueError, match="QNs"):
        builder.upload_segments(
            cn="2011",
            mn="M",
            pw="P",
            data_time=datetime(2024, 1, 1, tzinfo=UTC),
            tz=SHANGHAI,
            objects=objects,
            qns=["1"],
            codes_per_packet=2,
        )


def test_format_value_never_uses_exponents() -> None:
    assert builder.format_value(1e-7) == "0.000000"
    assert builder.format_value(7.0) == "7.0"
    assert builder.format_value(12) == "12"
    assert builder.format_value("N") == "N"


_CODES = st.sampled_from(["w00000", "w01018", "w21003", "w21011", "w21001", "w01001"])
_VALUES = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda v: round(v, 3))


@given(
    st.dictionaries(
        _CODES, st.fixed_dictionaries({"Rtd": _VALUES, "Flag": st.sampled_from("NDCT")})
    ),
    # hypothesis takes naive bounds and attaches the zone itself.
    st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001
        max_value=datetime(2099, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    st.sampled_from([4, 5]),
)
def test_build_then_parse_round_trip(objects: dict, moment: datetime, flag: int) -> None:
    moment = moment.replace(microsecond=0)
    (segment,) = builder.upload_segments(
        cn="2011",
        mn="010000A8900016F000169DC0",
        pw="123456",
        data_time=moment,
        tz=SHANGHAI,
        objects=objects,
        qns=["20240101000000000"],
        flag=flag,
    )
    packet = _parse_frame(builder.build_frame(segment))
    assert packet.flag == flag
    assert parse_time(packet.cp.fields["DataTime"], SHANGHAI) == moment
    assert {c: {"Rtd": float(a["Rtd"]), "Flag": a["Flag"]} for c, a in packet.cp.items.items()} == {
        c: {"Rtd": a["Rtd"], "Flag": a["Flag"]} for c, a in objects.items()
    }
