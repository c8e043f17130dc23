"""Device profiles: address forms, shipped profiles, validation messages, point decoding."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from wqmon.errors import ConfigError
from wqmon.protocol.modbus.profiles import (
    Confidence,
    RegisterType,
    decode_point,
    load_profile,
    parse_address,
    parse_profile,
    shipped_profiles,
)
from wqmon.protocol.modbus.registers import ByteOrder, DataType, encode, encode_ascii

SHANGHAI = ZoneInfo("Asia/Shanghai")
SHIPPED = [
    "china-unified-analyser",
    "eh-ca80-cod",
    "fpi-cod",
    "hach-cod",
    "krohne-ifc050",
    "siemens-mag6000",
    "siemens-mag8000",
]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (3002, (3002, None)),
        (0, (0, None)),
        ("0x242F", (0x242F, None)),
        ("4:03003", (3002, RegisterType.HOLDING)),
        ("4:3003", (3002, RegisterType.HOLDING)),
        ("40001", (0, RegisterType.HOLDING)),
        ("400001", (0, RegisterType.HOLDING)),
        ("43003", (3002, RegisterType.HOLDING)),
        ("30002", (1, RegisterType.INPUT)),
        ("3:30002", (30001, RegisterType.INPUT)),
        ("10001", (0, RegisterType.DISCRETE)),
        ("00001", (0, RegisterType.COIL)),
        ("465536", (65535, RegisterType.HOLDING)),
    ],
)
def test_address_forms(written: int | str, expected: tuple[int, RegisterType | None]) -> None:
    assert parse_address(written) == expected


@pytest.mark.parametrize(
    "written", ["40000", "4:00000", "465537", "5:0001", "3002", "abc", 70000, -1]
)
def test_bad_address_forms(written: int | str) -> None:
    with pytest.raises(ValueError, match="address"):
        parse_address(written)


def test_every_shipped_profile_is_listed() -> None:
    assert shipped_profiles() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads_with_source_and_confidence(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert "docs/field-facts.md §10" in profile.source
    # docs/field-facts.md §10 marks every one of these maps [S]: secondary sources, none verified.
    assert profile.confidence is Confidence.SECONDARY
    assert profile.points


def test_siemens_mag6000_addresses_are_converted_from_register_references() -> None:
    profile = load_profile("siemens-mag6000")
    flow = profile.point("flow")
    assert (flow.register_type, flow.address, flow.data_type) == (
        RegisterType.HOLDING,
        3002,
        DataType.FLOAT32,
    )
    assert flow.unit == "m3/s"
    assert profile.point("totaliser_1").address == 3014
    assert profile.point("totaliser_1").data_type is DataType.FLOAT64
    assert profile.point("totaliser_2_float").address == 3024
    assert profile.byte_order is ByteOrder.ABCD


def test_shipped_analysers_match_domain_table() -> None:
    hach = load_profile("hach-cod")
    assert (hach.byte_order, hach.point("cod").address) == (ByteOrder.CDAB, 0)
    fpi = load_profile("fpi-cod")
    assert (fpi.byte_order, fpi.point("cod").address, fpi.default_device_id) == (
        ByteOrder.ABCD,
        4,
        0x30,
    )
    krohne = load_profile("krohne-ifc050")
    assert krohne.point("flow").register_type is RegisterType.INPUT
    assert krohne.point("flow").address == 0x7532
    assert krohne.point("totaliser").address == 0x7538
    ca80 = load_profile("eh-ca80-cod")
    cod = ca80.point("cod")
    assert (cod.register_type, cod.address, ca80.byte_order) == (
        RegisterType.INPUT,
        0x242F,
        ByteOrder.CDAB,
    )
    assert cod.status is not None
    assert (cod.status.address, cod.status.count, cod.status.map["S"]) == (0x24AF, 1, "C")


def test_unified_analyser_map() -> None:
    profile = load_profile("china-unified-analyser")
    value = profile.point("value")
    assert (value.address, value.data_type, profile.byte_order) == (
        4104,
        DataType.FLOAT32,
        ByteOrder.CDAB,
    )
    assert value.sample_time is not None
    assert value.sample_time.address == 4101
    assert value.status is not None
    assert (value.status.address, value.status.count) == (4106, 6)


def test_unknown_profile_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="unknown Modbus profile 'nope'; shipped: china"):
        load_profile("nope")


def test_profile_from_a_user_path(tmp_path: Path) -> None:
    path = tmp_path / "my-meter.yaml"
    path.write_text(
        "name: my-meter\nvendor: Acme\nmodel: M1\nsource: site survey\nconfidence: verified\n"
        "points:\n  - {name: ph, parameter: w01001, address: '30001', data_type: int16,"
        " scale: 0.01}\n",
        encoding="utf-8",
    )
    profile = load_profile(path)
    point = profile.point("ph")
    assert (point.register_type, point.address, point.scale) == (RegisterType.INPUT, 0, 0.01)
    assert load_profile(str(path)) == profile


def test_missing_user_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read Modbus profile"):
        load_profile(tmp_path / "absent.yaml")


_HEAD = "name: t\nvendor: v\nmodel: m\nsource: s\nconfidence: secondary\n"


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        (
            "  - {name: cod, parameter: cod, address: 0, data_type: float32, colour: red}\n",
            "point cod, field colour: Extra inputs are not permitted",
        ),
        (
            "  - {name: cod, parameter: nitrous, address: 0, data_type: float32}\n",
            "point cod, field parameter: Value error, unknown parameter 'nitrous'",
        ),
        (
            "  - {name: cod, parameter: cod, address: 0, data_type: float33}\n",
            "point cod, field data_type: Input should be",
        ),
        (
            "  - {name: cod, parameter: cod, address: 0, data_type: float32, unit: furlongs}\n",
            "point cod, field (point): Value error, unit 'furlongs' cannot be converted",
        ),
        (
            "  - {name: sw, parameter: cod, register_type: coil, address: 0, data_type: float32}\n",
            "point sw, field (point): Value error, coil points hold single bits",
        ),
        (
            (
                "  - {name: f, parameter: flow, register_type: holding, address: '30001',"
                " data_type: float32}\n"
            ),
            "address '30001' refers to input registers but register_type is holding",
        ),
        (
            "  - {name: f, parameter: flow, address: '3002', data_type: float32}\n",
            "point f, field (point): Value error, address '3002'",
        ),
        (
            "  - {name: f, parameter: flow, address: 1, data_type: float32, scale: 0}\n",
            "point f, field scale: Value error, scale must be a finite, non-zero number",
        ),
        (
            (
                "  - {name: f, parameter: flow, address: 1, data_type: float32,"
                " status: {address: 2, map: {N: NORMAL}}}\n"
            ),
            "point f, field status.map: Value error, flag 'NORMAL' for status 'N'",
        ),
        (
            (
                "  - {name: f, parameter: flow, address: 1, data_type: float32}\n"
                "  - {name: f, parameter: flow, address: 3, data_type: float32}\n"
            ),
            "(profile): Value error, duplicate point names: f",
        ),
        (
            "  - {parameter: flow, address: 1, data_type: float32}\n",
            "point #0, field name: Field required",
        ),
    ],
)
def test_validation_errors_name_file_point_and_field(points: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_profile(_HEAD + "points:\n" + points, "meters/t.yaml")
    message = str(caught.value)
    assert message.startswith("invalid Modbus profile meters/t.yaml:")
    assert expected in message


def test_profile_level_errors() -> None:
    with pytest.raises(ConfigError, match="confidence: Input should be 'verified'"):
        parse_profile(_HEAD.replace("secondary", "sure") + "points: []\n", "x.yaml")
    with pytest.raises(ConfigError, match="not YAML"):
        parse_profile("name: [", "x.yaml")
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_profile("- a\n", "x.yaml")


# --- decode_point -------------------------------------------------------------------------------


def test_decode_point_with_status_and_sample_time() -> None:
    profile = load_profile("china-unified-analyser")
    point = profile.point("value")
    blocks = {
        "value": encode(27.3, profile.value_spec(point)),
        "status": encode_ascii("N", 6),
        "sample_time": [0x2101, 0x2311, 0x0306],
    }
    result = decode_point(profile, point, blocks, SHANGHAI)
    assert result.value == pytest.approx(27.3, abs=1e-5)
    assert result.flag == "N"
    assert result.sample_time == datetime(2021, 1, 23, 3, 3, 6, tzinfo=UTC)


def test_decode_point_status_maps_to_flag() -> None:
    profile = load_profile("eh-ca80-cod")
    point = profile.point("cod")
    spec = profile.value_spec(point)
    calibrating = decode_point(
        profile, point, {"value": encode(40.0, spec), "status": [ord("S")]}, SHANGHAI
    )
    assert (calibrating.value, calibrating.flag) == (40.0, "C")
    assert calibrating.reason == "status register says C"


def test_decode_point_nan_wins_over_status() -> None:
    profile = load_profile("eh-ca80-cod")
    point = profile.point("cod")
    blocks = {"value": encode(math.nan, profile.value_spec(point)), "status": [ord("N")]}
    result = decode_point(profile, point, blocks, SHANGHAI)
    assert (result.value, result.flag) == (None, "D")


def test_decode_point_unreadable_sample_time_keeps_the_value() -> None:
    profile = load_profile("china-unified-analyser")
    point = profile.point("value")
    blocks = {
        "value": encode(5.0, profile.value_spec(point)),
        "status": encode_ascii("N", 6),
        "sample_time": [0xFFFF, 0xFFFF, 0xFFFF],
    }
    result = decode_point(profile, point, blocks, SHANGHAI)
    assert (result.value, result.flag, result.sample_time) == (5.0, "N", None)
    assert result.reason is not None
    assert "unreadable sample time" in result.reason
