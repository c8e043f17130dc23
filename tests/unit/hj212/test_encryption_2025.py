"""HJ 212-2025: SM4 encryption of the CP, version per packet, the encrypted framing path.

The official Appendix A.2 examples (tests/testcases/hj212/sm4_appendix_a2) decrypt and
re-encrypt byte for byte; random CP lengths (tails of 0-15 characters) round-trip through
builder → encrypt → framer → decrypt → parse.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wqmon.protocol.hj212 import builder
from wqmon.protocol.hj212.crc import CrcVariant
from wqmon.protocol.hj212.encryption import (
    DecryptError,
    decrypt_segment,
    encrypt_segment,
    encrypts,
    is_encrypted,
    open_segment,
)
from wqmon.protocol.hj212.framer import Frame, FrameReader
from wqmon.protocol.hj212.packet import parse_segment
from wqmon.protocol.hj212.sm4 import BadKey, key_id, parse_key
from wqmon.protocol.hj212.version import Version, make_flag, version_of

CASE = Path(__file__).parents[2] / "testcases" / "hj212" / "sm4_appendix_a2"
KEY = b"0" * 16  # 16 × 0x30, the standard's example key
OTHER_KEY = bytes(range(16))
PLAIN_1, WIRE_1, PLAIN_2, WIRE_2 = (
    line.encode() + b"\r\n" for line in (CASE / "frames.txt").read_text().splitlines()
)


def _segment(frame: bytes) -> bytes:
    """The data segment as on the wire: between the 4 length digits and the 4 CRC digits."""
    return frame[6:-6]


@pytest.mark.parametrize(("plain", "wire"), [(PLAIN_1, WIRE_1), (PLAIN_2, WIRE_2)])
def test_official_examples_decrypt_and_reencrypt_byte_for_byte(plain: bytes, wire: bytes) -> None:
    assert decrypt_segment(_segment(wire), KEY) == _segment(plain)
    assert encrypt_segment(_segment(plain), KEY) == _segment(wire)
    # The builder makes the same frame from the plaintext segment: length and CRC of the plaintext.
    assert builder.build_frame(_segment(plain).decode(), KEY) == wire


def test_second_example_keeps_a_three_character_tail_in_plain_text() -> None:
    assert _segment(WIRE_2).endswith(b"}g=N&&")
    assert WIRE_2.count(b"0x") == 9 * 16
    assert WIRE_1.count(b"0x") == 13 * 16
    assert b"}&&" in WIRE_1


def test_declared_length_is_the_plaintexts_not_the_wires() -> None:
    assert int(WIRE_1[2:6]) == 295 == len(_segment(PLAIN_1))
    assert len(_segment(WIRE_1)) > 1000


@pytest.mark.parametrize(("plain", "wire"), [(PLAIN_1, WIRE_1), (PLAIN_2, WIRE_2)])
def test_framer_frames_encrypted_packets_on_the_trailer_and_defers_the_crc(
    plain: bytes, wire: bytes
) -> None:
    results = FrameReader().feed(PLAIN_1 + wire + PLAIN_2)
    assert [type(r) for r in results] == [Frame, Frame, Frame]
    encrypted = results[1]
    assert isinstance(encrypted, Frame)
    assert encrypted.encrypted
    assert encrypted.crc_variant is CrcVariant.ENCRYPTED
    assert encrypted.raw == wire
    opened = open_segment(encrypted.segment, encrypted.declared_length, encrypted.crc_text, [KEY])
    assert opened.segment == _segment(plain)
    packet = parse_segment(opened.segment)
    assert packet.cn == "2051"
    assert packet.version == Version.HJ212_2025
    assert packet.ack_requested
    assert packet.cp.items["a01011"]["Avg"] == "1.35"


def test_plain_frames_are_not_marked_encrypted() -> None:
    (frame,) = FrameReader().feed(PLAIN_2)
    assert isinstance(frame, Frame)
    assert not frame.encrypted
    assert frame.crc_variant is CrcVariant.STANDARD


def test_a_wrong_key_does_not_open_the_segment() -> None:
    with pytest.raises(DecryptError, match="does not decrypt"):
        open_segment(_segment(WIRE_1), 295, WIRE_1[-6:-2], [OTHER_KEY])


def test_the_previous_key_opens_what_the_current_one_does_not() -> None:
    opened = open_segment(_segment(WIRE_2), 234, WIRE_2[-6:-2], [OTHER_KEY, KEY])
    assert opened.key_index == 1


def test_no_key_is_a_clear_refusal() -> None:
    with pytest.raises(DecryptError, match="no SM4 key"):
        open_segment(_segment(WIRE_1), 295, WIRE_1[-6:-2], [])


@pytest.mark.parametrize(
    ("inner", "reason"),
    [
        (b"{0xZZ}", "other than 0xHH"),
        (b"{0x01,0x02}", "whole 16-byte blocks"),
        (b"{0x01", "closing"),
    ],
)
def test_malformed_ciphertext_is_refused(inner: bytes, reason: str) -> None:
    segment = b"QN=1;ST=32;CN=2011;PW=1;MN=M;Flag=9;CP=&&" + inner + b"&&"
    with pytest.raises(DecryptError, match=reason):
        decrypt_segment(segment, KEY)


def test_version_from_the_flag_per_packet() -> None:
    assert [version_of(f) for f in (None, 0, 1, 4, 5, 6, 7, 8, 9, 10, 11)] == [
        Version.HJT212_2005,
        Version.HJT212_2005,
        Version.HJT212_2005,
        *[Version.HJ212_2017] * 4,
        *[Version.HJ212_2025] * 4,
    ]
    assert version_of(12) is None  # version 3: not an edition wqmon knows
    assert make_flag(Version.HJ212_2025, ack=True, split=True) == 11


def test_which_commands_are_encrypted() -> None:
    assert all(encrypts(cn) for cn in ("2011", "2051", "2061", "2031", "2062", "1014", "3020"))
    assert not any(encrypts(cn) for cn in ("9014", "9013", "9015", "1011", "1001", "1002"))


def test_keys_parse_from_hex_and_have_a_public_id() -> None:
    assert parse_key("30" * 16) == KEY
    assert parse_key("3030 3030 3030 3030 3030 3030 3030 3030") == KEY
    assert key_id(KEY) == key_id(parse_key("30" * 16)) != key_id(OTHER_KEY)
    assert KEY.hex() not in key_id(KEY)
    for bad in ("30" * 15, "zz" * 16, ""):
        with pytest.raises(BadKey):
            parse_key(bad)


def test_answers_to_2025_packets_are_plain_with_the_2025_version_bits() -> None:
    packet = parse_segment(_segment(PLAIN_1))
    answer = builder.data_answer(packet)
    (frame,) = FrameReader().feed(answer)
    assert isinstance(frame, Frame)
    assert not frame.encrypted
    reply = parse_segment(frame.segment)
    assert (reply.cn, reply.flag, reply.qn) == ("9014", 8, packet.qn)


CP_TEXT = st.text(st.sampled_from(list("0123456789.,;=-wNDataTimeRtdAvgFlag")), max_size=200)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(cp=CP_TEXT, key=st.binary(min_size=16, max_size=16), split=st.booleans())
def test_round_trip_builder_encrypt_framer_decrypt_parse(cp: str, key: bytes, split: bool) -> None:
    cp = cp.replace("&&", "&")
    segment = builder.build_segment(
        cn="2011",
        mn="MN2025",
        pw="123456",
        cp=cp,
        qn="20260101000000000",
        flag=make_flag(Version.HJ212_2025, ack=True, split=split),
        pnum=2 if split else None,
        pno=1 if split else None,
    )
    frame_bytes = builder.build_frame(segment, key)
    tail = len(cp.encode()) % 16
    wire_cp = _segment(frame_bytes)[_segment(frame_bytes).index(b"CP=&&") + 5 : -2]
    assert wire_cp.endswith(cp.encode()[len(cp.encode()) - tail :] if tail else b"")
    assert is_encrypted(_segment(frame_bytes)) == (len(cp.encode()) >= 16)
    # Split across reads at an arbitrary point, the framer still finds exactly one frame.
    reader = FrameReader()
    cut = len(frame_bytes) // 3
    (frame,) = reader.feed(frame_bytes[:cut]) + reader.feed(frame_bytes[cut:])
    assert isinstance(frame, Frame)
    if frame.encrypted:
        plain = open_segment(frame.segment, frame.declared_length, frame.crc_text, [key]).segment
    else:
        assert frame.crc_variant is CrcVariant.STANDARD
        plain = frame.segment
    assert plain == segment.encode()
    packet = parse_segment(plain)
    assert (packet.mn, packet.version, packet.split) == ("MN2025", 2, split)
