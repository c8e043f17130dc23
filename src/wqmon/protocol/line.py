"""The reading-line format of the example UDP source (docs/drivers.md): pure, no I/O.

One reading per line, fields separated by blanks, the flag optional:

    WWTP-01 inlet cod 2025-03-01T08:00:00+08:00 312.5 N

A datagram is a batch of lines; a line that is not a reading is refused on its own, so one bad
line does not cost the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wqmon.model import RawReading


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not a reading: the text and why."""

    line: str
    detail: str


def parse_line(line: str) -> RawReading | BadLine:
    """One line as a reading, or why it is not one."""
    fields = line.split()
    if len(fields) not in (5, 6):
        return BadLine(
            line, f"{len(fields)} fields, expected SITE POINT PARAMETER TIME VALUE [FLAG]"
        )
    site, point, parameter, ts_text, value_text, *flag = fields
    try:
        ts = datetime.fromisoformat(ts_text)
        value = float(value_text)
    except ValueError as exc:
        return BadLine(line, str(exc))
    return RawReading(site, point, parameter, ts, value, flag=flag[0] if flag else "N")


def parse_datagram(data: bytes) -> tuple[list[RawReading], list[BadLine]]:
    """The readings and the refused lines of one datagram (blank lines are skipped)."""
    readings: list[RawReading] = []
    bad: list[BadLine] = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        if line.strip():
            parsed = parse_line(line)
            if isinstance(parsed, BadLine):
                bad.append(parsed)
            else:
                readings.append(parsed)
    return readings, bad
