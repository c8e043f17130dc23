"""The unit of acknowledgement between a driver and the pipeline.

An `Envelope` is what one source message carried (an HJ 212 packet, an MQTT message, an HTTP
body, a Modbus poll). The driver awaits its `Outcome`, which resolves only after everything in it
that was accepted is committed: that is when the source may be acknowledged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wqmon.ingest.columns import ReadingBlock
from wqmon.model import DeadLetter, PeriodRecord, RawPeriodRecord, RawReading, Reading


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Envelope:
    """Readings (and logger period data) from one source message.

    `rejected` holds dead letters the driver itself decided (an unknown vendor code in an HJ 212
    packet, say); they are committed with the envelope's readings.
    """

    source: str
    peer: str
    readings: Sequence[RawReading] = field(default_factory=list)
    periods: list[RawPeriodRecord] = field(default_factory=list)
    rejected: list[DeadLetter] = field(default_factory=list)
    allowed_sites: frozenset[str] | None = None
    received_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one record of an envelope was not stored."""

    index: int  # position in envelope.readings, or -1 for driver/period/store rejections
    reason: str
    detail: str


@dataclass(slots=True)
class Outcome:
    """What became of an envelope once committed."""

    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0  # of the duplicates, those whose value or flag differ (not stored)
    periods_stored: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    spooled: bool = False  # kept in the local spool; stored/duplicates are then what was accepted

    @property
    def accepted(self) -> int:
        return self.stored + self.duplicates


@dataclass(slots=True, eq=False)
class Prepared:
    """An envelope after validation: what the writer stores and whom it tells."""

    source: str
    block: ReadingBlock  # the accepted readings, as columns
    periods: list[PeriodRecord]
    dead_letters: list[DeadLetter]
    outcome: Outcome
    done: asyncio.Future[Outcome]

    @property
    def readings(self) -> list[Reading]:
        """The accepted readings as tuples (built on first use, then the same objects)."""
        return self.block.rows()


def reading_as_raw(raw: RawReading) -> bytes:
    """A rejected reading kept in the dead-letter table as JSON text."""
    body = {
        "site": raw.site,
        "point": raw.point,
        "parameter": raw.parameter,
        "ts": raw.ts.isoformat() if isinstance(raw.ts, datetime) else str(raw.ts),
        "value": raw.value if isinstance(raw.value, int | float) else str(raw.value),
        "unit": raw.unit,
        "flag": raw.flag,
    }
    return json.dumps(body, ensure_ascii=False, allow_nan=True).encode()


def period_as_raw(raw: RawPeriodRecord) -> bytes:
    """A rejected period record kept in the dead-letter table as JSON text."""
    body = {
        "site": raw.site,
        "point": raw.point,
        "parameter": raw.parameter,
        "period": raw.period.value,
        "ts": raw.ts.isoformat(),
        "avg": raw.avg,
        "min": raw.min,
        "max": raw.max,
        "cou": raw.cou,
        "unit": raw.unit,
        "flag": raw.flag,
    }
    return json.dumps(body, ensure_ascii=False, allow_nan=True).encode()
