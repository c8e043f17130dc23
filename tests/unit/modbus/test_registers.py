"""Register codecs: known values in every byte order, validity rules, BCD times, ASCII status."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wqmon.protocol.modbus.registers import (
    ByteOrder,
    DataType,
    ValueSpec,
    decode,
    decode_ascii,
    decode_bcd_time,
    decode_raw,
    encode,
    encode_ascii,
    encode_bcd_time,
    measure,
    register_count,
    status_flag,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
ORDERS = list(ByteOrder)

# 123.456 = 0x42F6E979 (docs/field-facts.md §10)
FLOAT32_123_456 = {
    ByteOrder.ABCD: [0x42F6, 0xE979],
    ByteOrder.CDAB: [0xE979, 0x42F6],
    ByteOrder.BADC: [0xF642, 0x79E9],
    ByteOrder.DCBA: [0x79E9, 0xF642],
}
# -123456 = 0xFFFE1DC0
INT32_MINUS_123456 = {
    ByteOrder.ABCD: [0xFFFE, 0x1DC0],
    ByteOrder.CDAB: [0x1DC0, 0xFFFE],
    ByteOrder.BADC: [0xFEFF, 0xC01D],
    ByteOrder.DCBA: [0xC01D, 0xFEFF],
}
# 123.456 as a double = 0x405EDD2F1A9FBE77; CDAB reverses all four words (module docstring)
FLOAT64_123_456 = {
    ByteOrder.ABCD: [0x405E, 0xDD2F, 0x1A9F, 0xBE77],
    ByteOrder.CDAB: [0xBE77, 0x1A9F, 0xDD2F, 0x405E],
    ByteOrder.BADC: [0x5E40, 0x2FDD, 0x9F1A, 0x77BE],
    ByteOrder.DCBA: [0x77BE, 0x9F1A, 0x2FDD, 0x5E40],
}


@pytest.mark.parametrize(("order", "words"), FLOAT32_123_456.items())
def test_float32_known_value_in_every_order(order: ByteOrder, words: list[int]) -> None:
    spec = ValueSpec(DataType.FLOAT32, order)
    assert decode(words, spec) == pytest.approx(123.456, abs=1e-5)
    assert encode(123.456, spec) == words


@pytest.mark.parametrize(("order", "words"), INT32_MINUS_123456.items())
def test_int32_known_value_in_every_order(order: ByteOrder, words: list[int]) -> None:
    spec = ValueSpec(DataType.INT32, order)
    assert decode(words, spec) == -123456
    assert encode(-123456, spec) == words


@pytest.mark.parametrize(("order", "words"), FLOAT64_123_456.items())
def test_float64_known_value_in_every_order(order: ByteOrder, words: list[int]) -> None:
    spec = ValueSpec(DataType.FLOAT64, order)
    assert decode(words, spec) == 123.456
    assert encode(123.456, spec) == words


def test_uint32_and_16_bit_known_values() -> None:
    assert decode([0x1234, 0x5678], ValueSpec(DataType.UINT32)) == 0x12345678
    assert decode([0x5678, 0x1234], ValueSpec(DataType.UINT32, ByteOrder.CDAB)) == 0x12345678
    assert decode([0xFFFE], ValueSpec(DataType.INT16)) == -2
    assert decode([0xFFFE], ValueSpec(DataType.UINT16)) == 65534
    # Only the byte swap matters for one register.
    assert decode([0x3412], ValueSpec(DataType.UINT16, ByteOrder.BADC)) == 0x1234
    assert decode([0x3412], ValueSpec(DataType.UINT16, ByteOrder.DCBA)) == 0x1234
    assert decode([0x1234], ValueSpec(DataType.UINT16, ByteOrder.CDAB)) == 0x1234


def test_64_bit_integers_known_values() -> None:
    # -1234567890123 = 0xFFFFFEE08E04FB35
    words = [0xFFFF, 0xFEE0, 0x8E04, 0xFB35]
    assert decode(words, ValueSpec(DataType.INT64)) == -1234567890123
    assert decode(words[::-1], ValueSpec(DataType.INT64, ByteOrder.CDAB)) == -1234567890123
    assert decode([0, 0, 0, 7], ValueSpec(DataType.UINT64)) == 7


def test_bool_reads_any_non_zero_register_as_one() -> None:
    assert decode([0], ValueSpec(DataType.BOOL)) == 0.0
    assert decode([1], ValueSpec(DataType.BOOL)) == 1.0
    assert decode([0x0100], ValueSpec(DataType.BOOL)) == 1.0


def test_register_counts() -> None:
    assert [register_count(t) for t in DataType] == [1, 1, 1, 2, 2, 2, 4, 4, 4]


def test_scale_and_offset_apply_as_value_times_scale_plus_offset() -> None:
    spec = ValueSpec(DataType.UINT16, scale=0.1, offset=-10.0)
    assert decode([1234], spec) == pytest.approx(113.4)
    assert encode(113.4, spec) == [1234]


def test_wrong_register_count_or_word_is_an_error() -> None:
    with pytest.raises(ValueError, match="expected 2 registers, got 1"):
        decode([1], ValueSpec(DataType.FLOAT32))
    with pytest.raises(ValueError, match="16-bit word"):
        decode([0x10000], ValueSpec(DataType.UINT16))
    with pytest.raises(ValueError, match="16-bit word"):
        decode([-1], ValueSpec(DataType.INT16))


def test_encode_rejects_values_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="does not fit int16"):
        encode(40000, ValueSpec(DataType.INT16))
    with pytest.raises(ValueError, match="does not fit uint32"):
        encode(-1, ValueSpec(DataType.UINT32))
    with pytest.raises(ValueError, match="cannot be stored"):
        encode(math.nan, ValueSpec(DataType.INT32))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_an_instrument_fault(order: ByteOrder, bad: float) -> None:
    spec = ValueSpec(DataType.FLOAT32, order)
    result = measure(encode(bad, spec), spec)
    assert result.value is None
    assert result.flag == "D"
    assert result.reason is not None


def test_sentinels_compare_with_the_raw_value_before_scaling() -> None:
    spec = ValueSpec(DataType.INT16, scale=0.01, sentinels=frozenset({-9999.0}))
    assert measure(encode(-99.99, spec), spec).flag == "D"
    good = measure([1234], spec)
    assert good.flag == "N"
    assert good.value == pytest.approx(12.34)


def test_measure_of_a_normal_value_is_flag_n() -> None:
    spec = ValueSpec(DataType.FLOAT32, ByteOrder.CDAB)
    result = measure(FLOAT32_123_456[ByteOrder.CDAB], spec)
    assert result.flag == "N"
    assert result.value == pytest.approx(123.456, abs=1e-5)


# --- property tests -----------------------------------------------------------------------------

_INT_RANGES = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
    DataType.UINT64: (0, 2**64 - 1),
}


@given(data=st.data(), data_type=st.sampled_from(list(_INT_RANGES)), order=st.sampled_from(ORDERS))
def test_integers_round_trip(data: st.DataObject, data_type: DataType, order: ByteOrder) -> None:
    low, high = _INT_RANGES[data_type]
    # Floats hold integers exactly only up to 2**53: stay inside that for the 64-bit types.
    value = data.draw(st.integers(max(low, -(2**53)), min(high, 2**53)))
    spec = ValueSpec(data_type, order)
    words = encode(value, spec)
    assert len(words) == register_count(data_type)
    assert decode(words, spec) == value


@given(
    data=st.data(),
    data_type=st.sampled_from([*_INT_RANGES, DataType.FLOAT32, DataType.FLOAT64]),
    order=st.sampled_from(ORDERS),
)
def test_any_register_words_round_trip(
    data: st.DataObject, data_type: DataType, order: ByteOrder
) -> None:
    words = data.draw(
        st.lists(
            st.integers(0, 0xFFFF),
            min_size=register_count(data_type),
            max_size=register_count(data_type),
        )
    )
    spec = ValueSpec(data_type, order)
    raw = decode_raw(words, data_type, order)
    if data_type in (DataType.INT64, DataType.UINT64) and abs(raw) > 2**53:
        return  # beyond a float's exact integers; covered by test_integers_round_trip
    if math.isnan(raw):
        assert measure(words, spec).flag == "D"  # NaN payloads are not preserved by design
        return
    assert encode(decode(words, spec), spec) == words


@given(value=st.floats(width=32, allow_nan=False), order=st.sampled_from(ORDERS))
def test_float32_values_round_trip(value: float, order: ByteOrder) -> None:
    spec = ValueSpec(DataType.FLOAT32, order)
    assert decode(encode(value, spec), spec) == value


@given(value=st.floats(allow_nan=False), order=st.sampled_from(ORDERS))
def test_float64_values_round_trip(value: float, order: ByteOrder) -> None:
    spec = ValueSpec(DataType.FLOAT64, order)
    assert decode(encode(value, spec), spec) == value


@given(
    raw=st.integers(-32768, 32767),
    scale=st.sampled_from([0.001, 0.01, 0.1, 0.5, 2.0, 10.0]),
    offset=st.sampled_from([0.0, -40.0, 273.15]),
)
def test_scaled_integers_round_trip(raw: int, scale: float, offset: float) -> None:
    spec = ValueSpec(DataType.INT16, scale=scale, offset=offset)
    words = encode(raw * scale + offset, spec)
    assert words == [raw & 0xFFFF]
    assert decode(words, spec) == pytest.approx(raw * scale + offset)


def test_float32_encoding_matches_struct() -> None:
    assert encode(1.0, ValueSpec(DataType.FLOAT32)) == [0x3F80, 0x0000]
    assert struct.pack(">f", 1.0) == bytes.fromhex("3f800000")


# --- BCD sample time --------------------------------------------------------------------------


def test_bcd_sample_time_is_local_time_converted_to_utc() -> None:
    stamp = decode_bcd_time([0x2408, 0x2315, 0x3005], SHANGHAI)
    assert stamp == datetime(2024, 8, 23, 7, 30, 5, tzinfo=UTC)
    assert stamp.tzinfo is UTC


def test_bcd_sample_time_round_trips() -> None:
    moment = datetime(2021, 8, 24, 2, 36, 59, tzinfo=UTC)
    words = encode_bcd_time(moment, SHANGHAI)
    assert words == [0x2108, 0x2410, 0x3659]
    assert decode_bcd_time(words, SHANGHAI) == moment


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ([0x24A8, 0x2315, 0x3000], "not BCD"),
        ([0x2413, 0x0115, 0x3000], "month"),
        ([0x2408, 0x2315], "expected 3 registers"),
    ],
)
def test_bad_bcd_sample_time_is_an_error(words: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_bcd_time(words, SHANGHAI)


# --- ASCII status -----------------------------------------------------------------------------


def test_ascii_letter_in_either_byte_of_one_register() -> None:
    assert decode_ascii([0x004E]) == "N"
    assert decode_ascii([0x4E00]) == "N"
    assert decode_ascii([0x4E00], ByteOrder.BADC) == "N"


def test_ascii_text_over_several_registers() -> None:
    words = encode_ascii("cz", 6)
    assert words == [0x637A, 0, 0, 0, 0, 0]
    assert decode_ascii(words) == "cz"
    assert decode_ascii(encode_ascii("Nx", 1, ByteOrder.DCBA), ByteOrder.DCBA) == "Nx"
    with pytest.raises(ValueError, match="does not fit"):
        encode_ascii("toolong", 2)


def test_status_flag_mapping() -> None:
    mapping = {"N": "N", "S": "C", "cz": "C"}
    assert status_flag("N", mapping) == "N"
    assert status_flag("S", mapping) == "C"
    assert status_flag("CZ", mapping) == "C"  # case-insensitive second try
    assert status_flag("K", mapping) == "K"  # unknown short letters are kept verbatim
    assert status_flag("K", mapping, default="D") == "D"
    assert status_flag("", mapping) == "D"  # nothing readable: instrument fault
    assert status_flag("garbage", mapping) == "D"
