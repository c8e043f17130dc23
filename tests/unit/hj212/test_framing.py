"""CRC and stream framer: examples and properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wqmon.protocol.hj212.builder import build_frame
from wqmon.protocol.hj212.crc import CrcVariant, check_crc, hj212_crc16, modbus_crc16
from wqmon.protocol.hj212.framer import BadFrame, Frame, FrameReader, Hj212Framer

APPENDIX_A = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"
APPENDIX_A_FRAME = b"##0101" + APPENDIX_A + b"1C80\r\n"


def test_appendix_a_crc_is_not_modbus() -> None:
    assert hj212_crc16(APPENDIX_A) == 0x1C80
    assert modbus_crc16(APPENDIX_A) == 0x0759


def test_check_crc_accepts_either_case_and_the_modbus_variant() -> None:
    assert check_crc(APPENDIX_A, "1c80") is CrcVariant.STANDARD
    assert check_crc(APPENDIX_A, b"1C80") is CrcVariant.STANDARD
    assert check_crc(APPENDIX_A, "5907") is CrcVariant.MODBUS_LOW_FIRST
    assert check_crc(APPENDIX_A, "0759") is CrcVariant.BAD
    assert check_crc(APPENDIX_A, "zz80") is CrcVariant.BAD
    assert check_crc(APPENDIX_A, "1C8") is CrcVariant.BAD


def test_decode_one_frame() -> None:
    consumed, frame = Hj212Framer().decode(APPENDIX_A_FRAME + b"##01")
    assert consumed == len(APPENDIX_A_FRAME)
    assert isinstance(frame, Frame)
    assert frame.segment == APPENDIX_A
    assert frame.crc_variant is CrcVariant.STANDARD
    assert not frame.length_mismatch


def test_need_more_bytes() -> None:
    framer = Hj212Framer()
    for cut in (0, 1, 2, 5, 6, 50, len(APPENDIX_A_FRAME) - 6):
        assert framer.decode(APPENDIX_A_FRAME[:cut]) == (0, None)


def test_garbage_is_reported_and_whitespace_skipped() -> None:
    consumed, result = Hj212Framer().decode(b"hello##0101")
    assert consumed == 5
    assert isinstance(result, BadFrame)
    assert result.reason == "garbage"
    assert result.raw == b"hello"
    assert Hj212Framer().decode(b"\r\n\r\n##") == (4, None)
    assert result.to_error(peer="1.2.3.4:5").raw == b"hello"


def test_trailer_missing_or_lf_only() -> None:
    reader = FrameReader()
    body = APPENDIX_A_FRAME.rstrip(b"\r\n")
    results = reader.feed(body + body + b"\n" + body)
    assert [type(r) for r in results] == [Frame, Frame, Frame]
    assert reader.pending == b""


def test_wrong_length_with_right_crc_is_accepted_and_flagged() -> None:
    frame_bytes = APPENDIX_A_FRAME.replace(b"##0101", b"##0090")
    results = FrameReader().feed(frame_bytes)
    assert len(results) == 1
    frame = results[0]
    assert isinstance(frame, Frame)
    assert frame.length_mismatch
    assert frame.declared_length == 90
    assert frame.segment == APPENDIX_A


def test_too_long_length_field_does_not_stall_a_complete_frame() -> None:
    results = FrameReader().feed(APPENDIX_A_FRAME.replace(b"##0101", b"##0999"))
    assert len(results) == 1
    assert isinstance(results[0], Frame)
    assert results[0].length_mismatch


def test_multibyte_length_counted_in_characters_is_accepted() -> None:
    segment = "ST=32;CN=3020;PW=1;MN=X;CP=&&DataTime=20240101000000;i13001-Info=测试&&"
    data = segment.encode()
    frame = b"##%04d%s%04X\r\n" % (len(segment), data, hj212_crc16(data))
    results = FrameReader().feed(frame)
    assert isinstance(results[0], Frame)
    assert not results[0].length_mismatch
    assert results[0].text == segment


def test_bad_crc_is_a_fault_and_the_next_frame_survives() -> None:
    broken = APPENDIX_A_FRAME.replace(b"1C80", b"1C81")
    results = FrameReader().feed(broken + APPENDIX_A_FRAME)
    assert isinstance(results[0], BadFrame)
    assert results[0].reason == "bad_crc"
    assert results[0].raw == broken
    assert isinstance(results[1], Frame)


def test_modbus_variant_is_framed_and_marked() -> None:
    crc = modbus_crc16(APPENDIX_A)
    swapped = b"%02X%02X" % (crc & 0xFF, crc >> 8)
    results = FrameReader().feed(b"##0101" + APPENDIX_A + swapped + b"\r\n")
    assert isinstance(results[0], Frame)
    assert results[0].crc_variant is CrcVariant.MODBUS_LOW_FIRST


def test_oversized_input_is_discarded() -> None:
    framer = Hj212Framer(max_segment=64)
    blob = b"##9999" + b"x" * 200
    consumed, result = framer.decode(blob)
    assert isinstance(result, BadFrame)
    assert result.reason == "too_large"
    assert consumed == len(blob)


_SEGMENT_TEXT = st.text(
    alphabet=st.sampled_from(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789=;,-.&"
    ),
    max_size=300,
)


@given(st.lists(_SEGMENT_TEXT, min_size=1, max_size=6), st.data())
def test_frames_split_anywhere_give_the_same_frames(
    segments: list[str], data: st.DataObject
) -> None:
    stream = b"".join(build_frame(s) for s in segments)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    reader = FrameReader()
    results = []
    start = 0
    for cut in [*cuts, len(stream)]:
        results += reader.feed(stream[start:cut])
        start = cut
    assert [r.segment for r in results if isinstance(r, Frame)] == [s.encode() for s in segments]
    assert all(isinstance(r, Frame) and not r.length_mismatch for r in results)
    assert reader.pending == b""


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_and_always_progress(blob: bytes) -> None:
    framer = Hj212Framer(max_segment=256)
    buf = blob
    while buf:
        consumed, _ = framer.decode(buf)
        assert 0 <= consumed <= len(buf)
        if consumed == 0:
            # Waiting for more bytes is only allowed for what could still become a frame.
            assert len(buf) <= framer.max_frame
            break
        buf = buf[consumed:]


@given(st.binary(max_size=500), st.lists(_SEGMENT_TEXT, min_size=1, max_size=3))
def test_frames_after_garbage_are_recovered(garbage: bytes, segments: list[str]) -> None:
    clean = garbage.replace(b"#", b"") + b"\r\n"
    frames = FrameReader().feed(clean + b"".join(build_frame(s) for s in segments))
    decoded = [r.segment for r in frames if isinstance(r, Frame)]
    assert decoded[-len(segments) :] == [s.encode() for s in segments]
