"""Pure Modbus register codecs: numbers, byte orders, BCD times and ASCII status words.

A Modbus register is one 16-bit word. Multi-register values are named by the order in which
their bytes travel, with A the most significant byte (sign and exponent of a float):

==========  ==============================  =====================================
order       32-bit value 0x42F6E979          meaning
==========  ==============================  =====================================
``ABCD``    ``[0x42F6, 0xE979]``             big-endian, high word first
``CDAB``    ``[0xE979, 0x42F6]``             word-swapped (E+H factory "1-0-3-2")
``BADC``    ``[0xF642, 0x79E9]``             byte-swapped within each word
``DCBA``    ``[0x79E9, 0xF642]``             little-endian
==========  ==============================  =====================================

The orders are two independent switches: *word swap* (CDAB, DCBA) reverses the order of all
words, *byte swap* (BADC, DCBA) swaps the two bytes of every word. That rule is the natural
generalisation to 16-bit (only the byte swap matters) and 64-bit values (CDAB sends the four
words lowest first: ``GH EF CD AB``).

Nothing here does I/O; the functions are the unit-tested core the Modbus driver builds on
(docs/field-facts.md §10).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import StrEnum

from wqmon.flags import MAX_FLAG_LENGTH, Flag


class DataType(StrEnum):
    """How the bits of one value are laid out across registers."""

    BOOL = "bool"  # a coil, a discrete input, or a register read as "non-zero"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT64 = "float64"


class ByteOrder(StrEnum):
    """Byte order on the wire; see the module docstring for the table."""

    ABCD = "ABCD"
    CDAB = "CDAB"
    BADC = "BADC"
    DCBA = "DCBA"

    @property
    def word_swap(self) -> bool:
        """Whether the least significant word comes first."""
        return self in (ByteOrder.CDAB, ByteOrder.DCBA)

    @property
    def byte_swap(self) -> bool:
        """Whether the bytes within each word are swapped."""
        return self in (ByteOrder.BADC, ByteOrder.DCBA)


# struct format (big-endian) and register count of each type.
_LAYOUT: dict[DataType, tuple[str, int]] = {
    DataType.BOOL: (">H", 1),
    DataType.INT16: (">h", 1),
    DataType.UINT16: (">H", 1),
    DataType.INT32: (">i", 2),
    DataType.UINT32: (">I", 2),
    DataType.FLOAT32: (">f", 2),
    DataType.INT64: (">q", 4),
    DataType.UINT64: (">Q", 4),
    DataType.FLOAT64: (">d", 4),
}

_FLOATS = frozenset({DataType.FLOAT32, DataType.FLOAT64})


def register_count(data_type: DataType) -> int:
    """Number of 16-bit registers one value of this type occupies."""
    return _LAYOUT[data_type][1]


@dataclass(frozen=True, slots=True)
class ValueSpec:
    """How to turn the registers of one point into a number.

    The engineering value is ``raw * scale + offset``. Sentinels are compared with the *raw*
    decoded number, before scaling, because manuals state them as register contents.
    """

    data_type: DataType
    order: ByteOrder = ByteOrder.ABCD
    scale: float = 1.0
    offset: float = 0.0
    sentinels: frozenset[float] = field(default_factory=frozenset)

    @property
    def count(self) -> int:
        """Registers this value occupies."""
        return register_count(self.data_type)


@dataclass(frozen=True, slots=True)
class Measurement:
    """A decoded value with its validity: `value` is None when the instrument sent no number."""

    value: float | None
    flag: str
    reason: str | None = None


def _check_words(words: list[int], expected: int) -> None:
    if len(words) != expected:
        raise ValueError(f"expected {expected} registers, got {len(words)}")
    for word in words:
        if not 0 <= word <= 0xFFFF:  # noqa: PLR2004 - the 16-bit register range
            raise ValueError(f"register value {word!r} is not a 16-bit word")


def words_to_bytes(words: list[int], order: ByteOrder) -> bytes:
    """Reassemble register words into big-endian (ABCD...) bytes."""
    ordered = list(reversed(words)) if order.word_swap else list(words)
    data = b"".join(w.to_bytes(2, "big") for w in ordered)
    if order.byte_swap:
        data = b"".join(data[i + 1 : i + 2] + data[i : i + 1] for i in range(0, len(data), 2))
    return data


def bytes_to_words(data: bytes, order: ByteOrder) -> list[int]:
    """Split big-endian bytes into register words sent in `order` (inverse of words_to_bytes)."""
    if order.byte_swap:
        data = b"".join(data[i + 1 : i + 2] + data[i : i + 1] for i in range(0, len(data), 2))
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return list(reversed(words)) if order.word_swap else words


def decode_raw(words: list[int], data_type: DataType, order: ByteOrder) -> float:
    """Decode registers into the raw number, without scale, offset or validity checks."""
    fmt, count = _LAYOUT[data_type]
    _check_words(words, count)
    (number,) = struct.unpack(fmt, words_to_bytes(words, order))
    if data_type is DataType.BOOL:
        return 1.0 if number else 0.0
    return float(number)


def decode(words: list[int], spec: ValueSpec) -> float:
    """Decode the registers of one value into its engineering value.

    Args:
        words: Register words as read, in wire order; exactly `spec.count` of them.
        spec: Data type, byte order, scale and offset.

    Returns:
        ``raw * scale + offset``; NaN and infinities pass through (see `measure`).

    Raises:
        ValueError: The number of words is wrong or a word is outside 0..65535.
    """
    raw = decode_raw(words, spec.data_type, spec.order)
    return raw * spec.scale + spec.offset


def measure(words: list[int], spec: ValueSpec) -> Measurement:
    """Decode a value and judge it: NaN, infinity or a sentinel is an instrument fault (`D`).

    E+H flow meters send NaN during faults (docs/field-facts.md §10); treating every non-number as
    flag D keeps a broken instrument out of loads instead of storing garbage.
    """
    raw = decode_raw(words, spec.data_type, spec.order)
    if math.isnan(raw) or math.isinf(raw):
        return Measurement(None, Flag.FAULT.value, f"instrument sent {raw}")
    if raw in spec.sentinels:
        return Measurement(None, Flag.FAULT.value, f"sentinel value {raw:g}")
    return Measurement(raw * spec.scale + spec.offset, Flag.NORMAL.value)


def _raw_for(value: float, spec: ValueSpec) -> float | int:
    raw = (value - spec.offset) / spec.scale
    if spec.data_type in _FLOATS:
        return raw
    if spec.data_type is DataType.BOOL:
        return 1 if raw else 0
    if math.isnan(raw) or math.isinf(raw):
        raise ValueError(f"{value!r} cannot be stored as {spec.data_type}")
    return round(raw)


def encode(value: float, spec: ValueSpec) -> list[int]:
    """Encode an engineering value into register words (inverse of `decode`).

    Integers are rounded to the nearest raw count. Used by the simulator and by writes.

    Raises:
        ValueError: The value does not fit the data type.
    """
    fmt, _count = _LAYOUT[spec.data_type]
    try:
        data = struct.pack(fmt, _raw_for(value, spec))
    except (struct.error, OverflowError) as exc:
        raise ValueError(f"{value!r} does not fit {spec.data_type}: {exc}") from exc
    return bytes_to_words(data, spec.order)


# --- BCD sample time (China unified analyser map: 3 registers YYMM DDhh mmss) -----------------

BCD_TIME_REGISTERS = 3


def _bcd_pair(byte: int) -> int:
    high, low = byte >> 4, byte & 0x0F
    if high > 9 or low > 9:  # noqa: PLR2004 - a BCD digit is 0..9
        raise ValueError(f"byte 0x{byte:02X} is not BCD")
    return high * 10 + low


def decode_bcd_time(words: list[int], tz: tzinfo) -> datetime:
    """Decode a 3-register BCD ``YYMMDDhhmmss`` local time into an aware UTC datetime.

    Args:
        words: Three registers, high byte first: ``0x2408, 0x2315, 0x3000`` is 2024-08-23 15:30:00.
        tz: The site's time zone; analysers keep local wall-clock time.

    Raises:
        ValueError: Not three words, a nibble above 9, or an impossible date.
    """
    _check_words(words, BCD_TIME_REGISTERS)
    data = words_to_bytes(words, ByteOrder.ABCD)
    year, month, day, hour, minute, second = (_bcd_pair(b) for b in data)
    local = datetime(2000 + year, month, day, hour, minute, second, tzinfo=tz)
    return local.astimezone(UTC)


def encode_bcd_time(moment: datetime, tz: tzinfo) -> list[int]:
    """Encode an aware datetime as 3 BCD registers of local time in `tz` (for simulators)."""
    local = moment.astimezone(tz)
    digits = local.strftime("%y%m%d%H%M%S")
    data = bytes(int(digits[i], 16) << 4 | int(digits[i + 1], 16) for i in range(0, 12, 2))
    return bytes_to_words(data, ByteOrder.ABCD)


# --- ASCII status words ------------------------------------------------------------------------


def decode_ascii(words: list[int], order: ByteOrder = ByteOrder.ABCD) -> str:
    """Read characters packed two per register (high byte first unless byte-swapped).

    NUL padding and surrounding spaces are dropped, so a register 0x004E reads as ``"N"``.
    Bytes outside ASCII are dropped too: a status word is never meant to carry them.
    """
    for word in words:
        _check_words([word], 1)
    # Only the byte swap applies: character strings are never word-swapped by instruments.
    data = words_to_bytes(words, ByteOrder.BADC if order.byte_swap else ByteOrder.ABCD)
    text = data.decode("ascii", errors="ignore").replace("\x00", "")
    return text.strip()


def encode_ascii(text: str, count: int, order: ByteOrder = ByteOrder.ABCD) -> list[int]:
    """Pack text into `count` registers, NUL-padded (inverse of `decode_ascii`, for simulators)."""
    data = text.encode("ascii")
    if len(data) > 2 * count:
        raise ValueError(f"{text!r} does not fit in {count} registers")
    data = data.rjust(2, b"\x00") if count == 1 else data.ljust(2 * count, b"\x00")
    return bytes_to_words(data, ByteOrder.BADC if order.byte_swap else ByteOrder.ABCD)


def status_flag(text: str, mapping: dict[str, str], default: str | None = None) -> str:
    """Turn a status text (an ASCII flag or a numeric state code) into an HJ 212 flag.

    Args:
        text: The decoded status, e.g. ``"N"``, ``"cz"`` or ``"2"``.
        mapping: Status text to flag, matched exactly first, then case-insensitively.
        default: Flag for texts not in the mapping. None keeps a short text verbatim (vendors
            add letters such as E or K, stored as sent per docs/field-facts.md §5).

    Returns:
        The flag; an empty or unreadable unmapped status counts as a fault (``D``).
    """
    if text in mapping:
        return mapping[text]
    folded = {key.lower(): flag for key, flag in mapping.items()}
    if text.lower() in folded:
        return folded[text.lower()]
    if default is not None:
        return default
    if 0 < len(text) <= MAX_FLAG_LENGTH and text.isprintable():
        return text
    return Flag.FAULT.value
