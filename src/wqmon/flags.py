"""HJ 212-2017 data flags (Table 8) and which of them count as valid data.

A flag is one letter; provinces and vendors add their own (E, K, P, H ...). Unknown letters are
stored verbatim and count as invalid unless configured otherwise (docs/field-facts.md §5).
"""

from __future__ import annotations

from enum import StrEnum


class Flag(StrEnum):
    """The flags defined by HJ 212-2017."""

    NORMAL = "N"  # instrument working normally
    STOPPED = "F"  # instrument stopped
    MAINTENANCE = "M"  # produced during maintenance
    MANUAL = "S"  # manually entered set value
    FAULT = "D"  # instrument fault
    CALIBRATION = "C"  # instrument in calibration
    OVER_RANGE = "T"  # above the measuring upper limit: the value is a lower bound
    COMMS_FAILURE = "B"  # communication failure between instrument and logger


KNOWN_FLAGS = frozenset(f.value for f in Flag)

# N is a measurement; T is one too (a lower bound, and often the very exceedance to alarm on).
DEFAULT_VALID_FLAGS: frozenset[str] = frozenset({Flag.NORMAL.value, Flag.OVER_RANGE.value})

# Flags that mean "the instrument is not in a measuring state" for the instrument-state alarm.
INSTRUMENT_STATE_FLAGS: frozenset[str] = frozenset({"D", "F", "M", "C", "B"})

MAX_FLAG_LENGTH = 4  # HJ 212 EFlag allows up to 4 characters; the column is checked to match


def normalise_flag(raw: str | None) -> str:
    """Return the flag to store: `N` when absent, otherwise the text as sent, trimmed."""
    if raw is None:
        return Flag.NORMAL.value
    text = raw.strip()
    return text or Flag.NORMAL.value


def is_valid(flag: str, valid_flags: frozenset[str] = DEFAULT_VALID_FLAGS) -> bool:
    """Whether data with this flag enters statistics (loads, means, alarms on means)."""
    return flag in valid_flags
