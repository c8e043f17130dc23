"""E-code role routing in conversion, and the `bad_header` framing fault."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from wqmon.protocol.hj212.convert import PointBinding, convert_packet
from wqmon.protocol.hj212.framer import BadFrame, Hj212Framer
from wqmon.protocol.hj212.packet import parse_segment

TZ = ZoneInfo("Asia/Shanghai")
SEGMENT = (
    "QN=1;ST=52;CN=2011;PW=P;MN=M;Flag=4;CP=&&DataTime=20250301080000;"
    "e10201-Rtd=250;e20201-Rtd=20;w01001-Rtd=7&&"
)


def test_e_codes_go_to_the_point_of_their_role() -> None:
    binding = PointBinding(
        "WWTP-01", "in", "inlet", TZ, role_points={"inlet": "in", "outlet": "out"}
    )
    out = convert_packet(parse_segment(SEGMENT), binding)
    assert {(r.point, r.parameter, r.value) for r in out.readings} == {
        ("in", "w01018", 250.0),
        ("out", "w01018", 20.0),
        ("in", "w01001", 7.0),  # not an e-code: the bound point
    }
    assert out.rejected == []


def test_an_e_code_without_a_point_of_its_role_is_rejected() -> None:
    binding = PointBinding("ENT-01", "outfall", "discharge", TZ, role_points={})
    out = convert_packet(parse_segment(SEGMENT), binding)
    assert [(r.code, r.reason) for r in out.rejected] == [
        ("e10201", "unrouted_code"),
        ("e20201", "unrouted_code"),
    ]
    assert [r.parameter for r in out.readings] == ["w01001"]


def test_an_explicitly_mapped_e_code_stays_on_the_bound_point() -> None:
    binding = PointBinding(
        "WWTP-01", "in", "inlet", TZ, code_map={"e20201": "cod"}, role_points={"outlet": "out"}
    )
    out = convert_packet(parse_segment(SEGMENT), binding)
    assert ("in", "w01018", 20.0) in {(r.point, r.parameter, r.value) for r in out.readings}


def test_a_header_without_length_digits_is_bad_header_not_bad_crc() -> None:
    consumed, result = Hj212Framer().decode(b"##ab12QN=1;CN=2011;CP=&&&&0000\r\n")
    assert isinstance(result, BadFrame)
    assert result.reason == "bad_header"
    assert consumed == 32
