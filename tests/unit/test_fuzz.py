"""Fuzzing: no input crashes or hangs the HJ 212 framer and parser (plain and SM4-encrypted,
HJ 212-2025) or the push decoder.

A fixed number of generated inputs per target (hypothesis, derandomised so CI is repeatable);
the only exceptions allowed are the documented refusals (FrameError, PayloadError).
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wqmon.errors import FrameError, PayloadError
from wqmon.protocol.hj212.builder import build_frame
from wqmon.protocol.hj212.convert import PointBinding, convert_packet
from wqmon.protocol.hj212.encryption import DecryptError, open_segment
from wqmon.protocol.hj212.framer import BadFrame, Frame, FrameReader
from wqmon.protocol.hj212.packet import parse_segment
from wqmon.protocol.push import decode_body

FUZZ = settings(
    max_examples=1500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
VECTOR = (
    "QN=20210824122004007;ST=32;CN=2011;PW=123456;MN=88888811111008;Flag=4;CP=&&DataTime=20210824122000;"
    "w00000-Rtd=0.00,w00000-Flag=N;w01001-Rtd=8.43,w01001-Flag=N;w01018-Rtd=7.0,"
    "w01018-SampleTime=20210824103659,w01018-Flag=N&&"
)
BINDING = PointBinding("S", "inlet", "inlet", ZoneInfo("Asia/Shanghai"))
SEGMENT_ALPHABET = st.sampled_from(
    list("QNSTCPWMFlag=;,&-.0123456789wDataTimeRtdAvgCouMinMaxe\r\n#")
)


def _parse_and_convert(segment: str | bytes) -> None:
    try:
        packet = parse_segment(segment)
        convert_packet(packet, BINDING)
    except FrameError:
        pass


@FUZZ
@given(st.binary(max_size=3000))
def test_framer_survives_any_bytes(data: bytes) -> None:
    reader = FrameReader()
    for item in reader.feed(data) + reader.feed(data):
        assert isinstance(item, Frame | BadFrame)


@FUZZ
@given(st.text(SEGMENT_ALPHABET, max_size=400))
def test_parser_survives_segment_shaped_text(text: str) -> None:
    _parse_and_convert(text)


@FUZZ
@given(st.data())
def test_mutated_real_packets_never_crash(data: st.DataObject) -> None:
    raw = bytearray(VECTOR.encode())
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    _parse_and_convert(bytes(raw))
    # The same mutation inside a valid frame, through the whole stream path.
    frame = build_frame(bytes(raw).decode("latin-1"))
    for item in FrameReader().feed(frame):
        if isinstance(item, Frame):
            _parse_and_convert(item.segment)


@FUZZ
@given(st.binary(max_size=2000))
def test_push_decoder_survives_any_bytes(data: bytes) -> None:
    with contextlib.suppress(PayloadError):
        decode_body(data)


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)
READING_FIELDS = {
    "point": st.text(max_size=10) | JSON,
    "parameter": st.sampled_from(["cod", "flow", "ph", "x"]) | JSON,
    "ts": st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat) | JSON,
    "value": st.floats(allow_nan=False) | JSON,
    "unit": st.none() | st.text(max_size=5) | JSON,
    "flag": st.sampled_from(["N", "T", "TOOLONG"]) | JSON,
}


@FUZZ
@given(
    st.fixed_dictionaries(
        {
            "site": st.text(max_size=10) | JSON,
            "readings": st.lists(st.fixed_dictionaries({}, optional=READING_FIELDS), max_size=8)
            | JSON,
        },
        optional={"extra": JSON},
    )
)
def test_push_decoder_survives_body_shaped_json(doc: dict[str, object]) -> None:
    try:
        decoded = decode_body(json.dumps(doc).encode())
    except PayloadError:
        return
    assert len(decoded.readings) + len(decoded.refused) <= 8 or not isinstance(
        doc["readings"], list
    )


# -- HJ 212-2025 encrypted path --------------------------------------------------------------

SM4_KEY = b"0" * 16
ENCRYPTED_FRAME = build_frame(VECTOR.replace("Flag=4", "Flag=9"), SM4_KEY)


def _open_and_convert(frame: Frame, keys: list[bytes]) -> None:
    """What a session does with an encrypted frame; only the documented refusals may raise."""
    try:
        opened = open_segment(frame.segment, frame.declared_length, frame.crc_text, keys)
    except DecryptError:
        return
    _parse_and_convert(opened.segment)


@FUZZ
@given(st.data())
def test_mutated_encrypted_packets_never_crash(data: st.DataObject) -> None:
    frame = bytearray(ENCRYPTED_FRAME)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(frame) - 1))
        frame[i] = data.draw(st.integers(0, 255))
    keys = data.draw(st.sampled_from([[SM4_KEY], [], [b"\x01" * 16, SM4_KEY]]))
    for item in FrameReader().feed(bytes(frame)):
        if isinstance(item, Frame) and item.encrypted:
            _open_and_convert(item, keys)
        elif isinstance(item, Frame):
            _parse_and_convert(item.segment)


HEXISH = st.sampled_from(list("0x0X,{}ABCDEF0123456789&;=zg \r\n"))


@FUZZ
@given(st.text(HEXISH, max_size=600), st.integers(0, 9999))
def test_encrypted_shaped_ciphertext_never_crashes(inner: str, declared: int) -> None:
    frame = f"##{declared:04d}QN=1;ST=32;CN=2011;PW=1;MN=M;Flag=9;CP=&&{{{inner}&&1C80\r\n"
    for item in FrameReader().feed(frame.encode()):
        assert isinstance(item, Frame | BadFrame)
        if isinstance(item, Frame) and item.encrypted:
            _open_and_convert(item, [SM4_KEY])
