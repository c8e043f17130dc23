"""Which HJ 212 edition a packet speaks, from its Flag (docs/field-facts.md §3, §11).

Flag bits 5..2 carry the version: 0 HJ/T 212-2005, 1 HJ 212-2017, 2 HJ 212-2025; bit 0 asks for
an answer, bit 1 marks a split packet. A packet without Flag (old 2005 loggers) is 2005.
"""

from __future__ import annotations

from enum import IntEnum

FLAG_ACK = 0x01
FLAG_SPLIT = 0x02
_VERSION_SHIFT = 2
_VERSION_MASK = 0x0F


class Version(IntEnum):
    """The protocol editions one listener accepts."""

    HJT212_2005 = 0
    HJ212_2017 = 1
    HJ212_2025 = 2

    @property
    def label(self) -> str:
        """`2005`, `2017` or `2025`, as shown in the API."""
        return {0: "2005", 1: "2017", 2: "2025"}[self.value]


def version_bits(flag: int | None) -> int:
    """The raw version number of a Flag value (None: the field was absent, i.e. 0)."""
    return ((flag or 0) >> _VERSION_SHIFT) & _VERSION_MASK


def version_of(flag: int | None) -> Version | None:
    """The edition of a Flag value, or None for a version number wqmon does not know."""
    bits = version_bits(flag)
    return Version(bits) if bits in Version._value2member_map_ else None


def make_flag(version: Version | int, *, ack: bool = False, split: bool = False) -> int:
    """A Flag value: the version bits plus the answer and split bits."""
    return (
        (int(version) << _VERSION_SHIFT) | (FLAG_ACK if ack else 0) | (FLAG_SPLIT if split else 0)
    )
