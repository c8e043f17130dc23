"""A pure stream framer for HJ 212 frames, after pymodbus's framer contract.

`decode(buf)` looks at the start of a receive buffer the caller owns and returns
`(consumed, result)`: drop `consumed` bytes, then handle `result`, which is a `Frame`, a
`BadFrame` (to dead-letter) or None. `(0, None)` means "need more bytes"; `(n, None)` with n > 0
means bytes were skipped silently (CR/LF/space between frames): call again.

A frame is `##` + 4-digit length + data segment + 4 hex CRC digits + CR LF. Real loggers get
the length wrong, drop the trailer or send LF only (docs/field-facts.md §4), so when the declared
length does not lead to a matching CRC the framer falls back to scanning for the end of the
frame (the next LF or the next `##`) and accepts the frame if its CRC matches, flagged
`length_mismatch`. The framer never raises on input and never reads past `max_segment`.

An HJ 212-2025 encrypted frame (`CP=&&{0x..`) declares the length of its *plaintext* and
carries the plaintext's CRC (docs/field-facts.md §11), so neither can be checked here: it is
framed on `##`…LF alone and returned with `encrypted=True` and `crc_variant=ENCRYPTED`; the
session decrypts it with the MN's key, then checks length and CRC (`encryption.open_segment`).
"""

from __future__ import annotations

from dataclasses import dataclass

from wqmon.errors import FrameError
from wqmon.protocol.hj212.crc import CrcVariant, check_crc
from wqmon.protocol.hj212.encryption import ENCRYPTED_MARK

HEADER = b"##"
_PREFIX_LEN = 6  # "##" + 4 length digits
_CRC_LEN = 4
_WHITESPACE = frozenset(b" \t\r\n\x00")
DEFAULT_MAX_SEGMENT = 4096  # the standard allows 1024; real captures reach 1703
# Each encrypted byte is written as `0xHH,` (5 characters): 950 CP characters become ~4,750.
_ENCRYPTED_EXPANSION = 5
_HEAD_SCAN = 256  # the header fields before CP=&& are well under this


@dataclass(frozen=True, slots=True)
class Frame:
    """One framed packet whose CRC matched (standard or MODBUS low-byte-first variant)."""

    segment: bytes  # the data segment, which the length and CRC cover
    raw: bytes  # everything consumed for this frame, trailer included
    declared_length: int | None  # the 4-digit length field, None when not digits
    length_mismatch: bool  # the length field fits neither the byte nor the character count
    crc_variant: CrcVariant
    encrypted: bool = False  # 2025 encrypted CP: decrypt, then check length and CRC
    crc_text: bytes = b""  # the 4 CRC digits as received (kept for encrypted frames)

    @property
    def text(self) -> str:
        """The data segment decoded as UTF-8 (undecodable bytes replaced)."""
        return self.segment.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class BadFrame:
    """Bytes the framer had to discard, with a short stable reason for metrics."""

    reason: str  # garbage | bad_header | bad_crc | too_large
    detail: str
    raw: bytes

    def to_error(self, *, peer: str = "") -> FrameError:
        """The same fault as a `FrameError`, for code paths that raise."""
        return FrameError(f"{self.reason}: {self.detail}", raw=self.raw, peer=peer)


DecodeResult = Frame | BadFrame | None


def _length_matches(declared: int | None, segment: bytes) -> bool:
    if declared is None:
        return False
    # Devices differ: the standard counts characters, most count UTF-8 bytes; accept both.
    return declared in (len(segment), len(segment.decode("utf-8", errors="replace")))


def _trailer_length(buf: bytes, end: int) -> int:
    if buf.startswith(b"\r\n", end):
        return 2
    return 1 if buf.startswith(b"\n", end) else 0


class Hj212Framer:
    """Splits a byte stream into HJ 212 frames. Pure: the caller owns the buffer."""

    def __init__(self, *, max_segment: int = DEFAULT_MAX_SEGMENT) -> None:
        """Create a framer.

        Args:
            max_segment: Largest data segment accepted, in bytes; longer input is discarded.
        """
        self.max_segment = max_segment
        self.max_frame = _PREFIX_LEN + max_segment + _CRC_LEN + 2
        self.max_encrypted_frame = _PREFIX_LEN + _ENCRYPTED_EXPANSION * max_segment + _CRC_LEN + 2

    def decode(self, buf: bytes) -> tuple[int, DecodeResult]:
        """Decode the frame at the start of `buf`.

        Returns:
            `(consumed, result)`; see the module docstring for the meaning of each case.
        """
        start = buf.find(HEADER)
        if start != 0:
            return self._skip_to_header(buf, start)
        if len(buf) < _PREFIX_LEN:
            return 0, None
        digits = buf[2:_PREFIX_LEN]
        declared = int(digits) if digits.isdigit() else None
        if self._encrypted_head(buf):
            return self._scan_encrypted(buf, declared)
        if declared is not None and declared <= self.max_segment:
            end = _PREFIX_LEN + declared + _CRC_LEN
            if len(buf) >= end:
                frame = self._exact(buf, declared, end)
                if frame is not None:
                    return frame
        return self._scan(buf, declared)

    def _skip_to_header(self, buf: bytes, start: int) -> tuple[int, DecodeResult]:
        if start < 0:
            # Keep a trailing '#': it may be the first half of the next header.
            start = len(buf) - 1 if buf.endswith(b"#") else len(buf)
        skipped = buf[:start]
        if not skipped:
            return 0, None
        if all(b in _WHITESPACE for b in skipped):
            return start, None
        return start, BadFrame("garbage", f"{len(skipped)} bytes outside a frame", skipped)

    def _exact(self, buf: bytes, declared: int, end: int) -> tuple[int, DecodeResult] | None:
        segment = buf[_PREFIX_LEN : _PREFIX_LEN + declared]
        variant = check_crc(segment, buf[end - _CRC_LEN : end])
        if variant is CrcVariant.BAD:
            return None
        consumed = end + _trailer_length(buf, end)
        return consumed, Frame(segment, buf[:consumed], declared, False, variant)

    @staticmethod
    def _encrypted_head(buf: bytes) -> bool:
        """Whether the frame at the start of `buf` has an encrypted CP (seen in its head)."""
        head = buf[:_HEAD_SCAN]
        mark = head.find(ENCRYPTED_MARK)
        if mark < 0:
            return False
        newline, other = head.find(b"\n"), head.find(HEADER, 2)
        return all(stop < 0 or stop > mark for stop in (newline, other))

    def _scan_encrypted(self, buf: bytes, declared: int | None) -> tuple[int, DecodeResult]:
        """Frame an encrypted packet on its trailer (the next LF, or the next `##`)."""
        limit = self.max_encrypted_frame
        ends = [
            i for i in (buf.find(b"\n", _PREFIX_LEN, limit), buf.find(HEADER, 2, limit)) if i >= 0
        ]
        if not ends:
            if len(buf) < limit:
                return 0, None
            cut = buf.find(HEADER, 2)
            consumed = cut if cut >= 0 else len(buf)
            detail = f"no frame end within {limit} bytes"
            return consumed, BadFrame("too_large", detail, buf[:consumed])
        stop = min(ends)
        consumed = stop + 1 if buf[stop : stop + 1] == b"\n" else stop
        body = buf[_PREFIX_LEN:stop].rstrip(b"\r")
        if len(body) < _CRC_LEN:
            return consumed, BadFrame("bad_header", "encrypted frame without a CRC", buf[:consumed])
        segment, crc_text = body[:-_CRC_LEN], body[-_CRC_LEN:]
        frame = Frame(
            segment, buf[:consumed], declared, False, CrcVariant.ENCRYPTED, True, bytes(crc_text)
        )
        return consumed, frame

    def _scan(self, buf: bytes, declared: int | None) -> tuple[int, DecodeResult]:
        """Find the end of a frame whose length field is wrong: the next LF or `##`."""
        limit = self.max_frame
        newline = buf.find(b"\n", _PREFIX_LEN, limit)
        next_header = buf.find(HEADER, 2, limit)
        ends = [i for i in (newline, next_header) if i >= 0]
        if not ends:
            if len(buf) < limit:
                return 0, None
            cut = buf.find(HEADER, 2)
            consumed = cut if cut >= 0 else len(buf)
            detail = f"no frame end within {self.max_frame} bytes"
            return consumed, BadFrame("too_large", detail, buf[:consumed])
        stop = min(ends)
        consumed = stop + 1 if stop == newline else stop
        body = buf[_PREFIX_LEN:stop].rstrip(b"\r")
        segment, crc_text = body[:-_CRC_LEN], body[-_CRC_LEN:]
        variant = check_crc(segment, crc_text) if len(body) >= _CRC_LEN else CrcVariant.BAD
        if variant is CrcVariant.BAD:
            if declared is None:
                # `##` not followed by 4 digits: not a frame header at all, say so.
                detail = f"length field {buf[2:_PREFIX_LEN]!r} is not 4 digits"
                return consumed, BadFrame("bad_header", detail, buf[:consumed])
            detail = f"CRC {crc_text!r} does not match the data segment"
            return consumed, BadFrame("bad_crc", detail, buf[:consumed])
        mismatch = not _length_matches(declared, segment)
        return consumed, Frame(segment, buf[:consumed], declared, mismatch, variant)


class FrameReader:
    """A receive buffer around `Hj212Framer`: feed bytes, get frames and faults in order."""

    def __init__(self, framer: Hj212Framer | None = None) -> None:
        """Create a reader with its own buffer (and a default framer unless one is given)."""
        self.framer = framer or Hj212Framer()
        self._buffer = b""

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet framed."""
        return self._buffer

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        """Append `data` and return every complete frame or fault now decodable."""
        self._buffer += data
        results: list[Frame | BadFrame] = []
        while self._buffer:
            consumed, result = self.framer.decode(self._buffer)
            self._buffer = self._buffer[consumed:]
            if result is not None:
                results.append(result)
            if consumed == 0:
                break
        return results
