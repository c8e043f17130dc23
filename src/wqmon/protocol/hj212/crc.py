"""CRC checks of HJ 212 frames.

HJ 212-2017 Appendix A calls its checksum "ANSI CRC16", but the algorithm differs from
CRC-16/MODBUS: the *high* byte of the register is XORed with each data byte and the old low byte
is discarded (docs/field-facts.md §2). Some real loggers send the standard CRC-16/MODBUS instead, written
low byte first; `check_crc` recognises that variant and lets the caller decide per MN.
"""

from __future__ import annotations

from enum import StrEnum

_POLY = 0xA001  # reflected 0x8005, the same polynomial both algorithms use
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


class CrcVariant(StrEnum):
    """Which checksum a frame carries."""

    STANDARD = "standard"  # HJ 212 Appendix A, high byte first (either letter case)
    MODBUS_LOW_FIRST = "modbus-low-byte-first"  # CRC-16/MODBUS written low byte first
    BAD = "bad"  # neither
    # An HJ 212-2025 encrypted frame: its CRC is that of the plaintext, checked after decryption.
    ENCRYPTED = "encrypted"


def _shift_out(crc: int) -> int:
    for _ in range(8):
        lsb = crc & 1
        crc >>= 1
        if lsb:
            crc ^= _POLY
    return crc


# `_shift_out` of every byte value: one lookup per data byte instead of eight shifts. The CRC of
# every frame in and every answer out goes through here (≈ 20 % of the ingest process's CPU with
# the loop, docs/scaling.md).
_TABLE = tuple(_shift_out(value) for value in range(256))


def hj212_crc16(data: bytes) -> int:
    """The HJ 212-2017 Appendix A checksum of a data segment.

    Args:
        data: The data segment bytes (between the 4 length digits and the 4 CRC hex digits).

    Returns:
        The 16-bit checksum, to be written as `%04X` (high byte first).
    """
    crc = 0xFFFF
    table = _TABLE
    for byte in data:
        # Only the high byte survives between data bytes: this is NOT `crc ^= byte`.
        crc = table[(crc >> 8) ^ byte]
    return crc


def modbus_crc16(data: bytes) -> int:
    """The standard CRC-16/MODBUS of `data` (init 0xFFFF, reflected poly 0x8005)."""
    crc = 0xFFFF
    table = _TABLE
    for byte in data:
        # shift_out(crc ^ byte) = (crc >> 8) ^ shift_out(low byte of crc ^ byte)
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def format_crc(crc: int) -> str:
    """The 4 upper-case hex digits a frame carries for `crc`."""
    return f"{crc:04X}"


def _parse_hex(text: bytes | str) -> int | None:
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    if len(raw) != 4 or not all(b in _HEX_DIGITS for b in raw):  # noqa: PLR2004 - 4 hex digits
        return None
    return int(raw, 16)


def check_crc(segment: bytes, crc_text: bytes | str) -> CrcVariant:
    """Compare the CRC digits of a frame with its data segment.

    Args:
        segment: The data segment bytes.
        crc_text: The 4 hex digits as received, upper or lower case.

    Returns:
        `STANDARD` when the Appendix A checksum matches, `MODBUS_LOW_FIRST` when the digits are
        the CRC-16/MODBUS written low byte first, `BAD` otherwise (including non-hex digits).
    """
    value = _parse_hex(crc_text)
    if value is None:
        return CrcVariant.BAD
    if value == hj212_crc16(segment):
        return CrcVariant.STANDARD
    modbus = modbus_crc16(segment)
    if value == ((modbus & 0xFF) << 8) | (modbus >> 8):
        return CrcVariant.MODBUS_LOW_FIRST
    return CrcVariant.BAD
