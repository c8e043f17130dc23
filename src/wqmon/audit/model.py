"""Audit records as the code sees them: marks, corrections and the fixed list of reasons.

A mark says that a channel's (or a whole point's) data over [start, end) is invalid or valid,
whatever the instruments flagged; a correction gives a value for one reading, or a replacement
series for a range. Both are records of their own: the readings they speak about never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Reason(StrEnum):
    """Why an operator marked or corrected data (the fixed list of docs/audit.md)."""

    MAINTENANCE = "maintenance"  # 维护
    CALIBRATION = "calibration"  # 校准 / 标定
    INSTRUMENT_FAULT = "instrument_fault"  # 仪器故障
    SAMPLING_FAULT = "sampling_fault"  # 采样系统故障
    POWER_CUT = "power_cut"  # 停电
    NETWORK_FAULT = "network_fault"  # 网络 / 通讯故障
    SHUTDOWN = "shutdown"  # 停产 / 停运: legitimate, left out of the valid-rate denominator
    LAB_RESULT = "lab_result"  # 手工监测 / 实验室数据 (corrections)
    OTHER = "other"  # 其他: the comment says what


REASONS: tuple[str, ...] = tuple(r.value for r in Reason)

# The HJ 212-2017 flag letter a reading inside an invalid mark takes for statistics and in the
# hour rows' flag, so a marked hour reads like the state the operator declared (docs/audit.md).
MARK_FLAG: dict[Reason, str] = {
    Reason.MAINTENANCE: "M",
    Reason.CALIBRATION: "C",
    Reason.INSTRUMENT_FAULT: "D",
    Reason.SAMPLING_FAULT: "D",
    Reason.POWER_CUT: "F",
    Reason.NETWORK_FAULT: "B",
    Reason.SHUTDOWN: "F",
    Reason.LAB_RESULT: "S",
    Reason.OTHER: "X",
}


class Validity(StrEnum):
    """What a mark declares its range to be."""

    INVALID = "invalid"
    VALID = "valid"


@dataclass(frozen=True, slots=True)
class Mark:
    """One audit mark (`audit_mark` row) that is in force (not revoked).

    Attributes:
        id: `audit_mark.id`.
        point_id: The point marked.
        channel_id: The channel marked; None marks every channel of the point.
        start: Start of the range, aware.
        end: End of the range (exclusive), aware.
        validity: Invalid or valid.
        reason: One of `Reason`.
        created_at: When it was recorded; of overlapping marks the latest decides.
    """

    id: int
    point_id: int
    channel_id: int | None
    start: datetime
    end: datetime
    validity: Validity
    reason: Reason
    created_at: datetime

    @property
    def flag(self) -> str:
        """The flag readings inside an invalid mark take."""
        return MARK_FLAG[self.reason]


@dataclass(frozen=True, slots=True)
class Correction:
    """One correction in force: a value for one reading, or a replacement series for a range.

    Attributes:
        id: `audit_correction.id`.
        channel_id: The channel corrected.
        kind: `value` (one reading at `start`) or `series` (the range [start, end)).
        start: The reading's time (`value`) or the start of the range.
        end: Equal to `start` for a value; the end of the range (exclusive) for a series.
        points: The corrected value(s): `(ts, value)`, sorted by time.
        reason: One of `Reason`.
        created_at: When it was recorded; of overlapping corrections the latest decides.
    """

    id: int
    channel_id: int
    kind: str
    start: datetime
    end: datetime
    points: tuple[tuple[datetime, float], ...]
    reason: Reason
    created_at: datetime
