"""Reassemble split HJ 212 packets (Flag bit D, PNUM/PNO).

Pieces are grouped by (MN, CN, DataTime); later pieces without a DataTime attach to the newest
open group of the same MN and CN (a first piece without one keys its group by its QN). The first piece
opens a group and starts its timeout. Pure: the clock is injected, nothing runs in the
background; call `expire()` periodically to collect the groups that never completed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from wqmon.protocol.hj212.packet import FLAG_SPLIT, Cp, Packet

Key = tuple[str, str, str]
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Reassembled:
    """A complete upload: the merged packet and the pieces it came from, in PNO order."""

    packet: Packet
    parts: tuple[Packet, ...]


@dataclass(frozen=True, slots=True)
class ExpiredPartial:
    """A split upload whose missing pieces did not arrive in time."""

    key: Key
    parts: tuple[Packet, ...]
    pnum: int
    reason: str


@dataclass(slots=True)
class _Group:
    pnum: int
    started: float
    parts: dict[int, Packet] = field(default_factory=dict)


def merge_parts(parts: list[Packet]) -> Packet:
    """One packet from pieces in PNO order: the first's header, CP items merged by code."""
    first = parts[0]
    fields: dict[str, str] = {}
    items: dict[str, dict[str, str]] = {}
    for part in parts:
        for key, value in part.cp.fields.items():
            fields.setdefault(key, value)
        for code, attrs in part.cp.items.items():
            items.setdefault(code, {}).update(attrs)
    flag = None if first.flag is None else first.flag & ~FLAG_SPLIT
    return replace(first, flag=flag, pnum=None, pno=None, cp=Cp(fields=fields, items=items))


class Reassembler:
    """Collects split pieces until complete or timed out."""

    def __init__(
        self, *, timeout_s: float = DEFAULT_TIMEOUT_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Create an empty reassembler.

        Args:
            timeout_s: How long a group may stay incomplete after its first piece arrived.
            clock: Monotonic seconds; a fake in tests.
        """
        self.timeout_s = timeout_s
        self._clock = clock
        self._groups: dict[Key, _Group] = {}

    @property
    def open_groups(self) -> int:
        """Number of incomplete split uploads held."""
        return len(self._groups)

    def _key(self, packet: Packet) -> Key:
        if packet.data_time:
            return (packet.mn, packet.cn, packet.data_time)
        if packet.pno != 1:
            # Later pieces carry a new QN: attach to the newest group of this MN/CN (some
            # loggers send DataTime in the first piece only).
            for key in reversed(self._groups):
                if key[:2] == (packet.mn, packet.cn):
                    return key
        return (packet.mn, packet.cn, f"qn:{packet.qn}")

    def add(self, packet: Packet) -> Reassembled | None:
        """Add a packet; return the merged upload when it is complete.

        A packet that is not split (or has no PNUM/PNO) is returned at once. A repeated
        piece (a retransmission) replaces the earlier copy.
        """
        if not packet.split or not packet.pnum or not packet.pno:
            return Reassembled(packet, (packet,))
        key = self._key(packet)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(pnum=packet.pnum, started=self._clock())
        group.parts[packet.pno] = packet
        if len(group.parts) < group.pnum or any(
            n not in group.parts for n in range(1, group.pnum + 1)
        ):
            return None
        del self._groups[key]
        parts = [group.parts[n] for n in sorted(group.parts)]
        return Reassembled(merge_parts(parts), tuple(parts))

    def expire(self, *, everything: bool = False) -> list[ExpiredPartial]:
        """Drop and return every group older than the timeout (or all groups: `everything`)."""
        now = self._clock()
        expired = []
        for key, group in list(self._groups.items()):
            if everything or now - group.started >= self.timeout_s:
                del self._groups[key]
                parts = tuple(group.parts[n] for n in sorted(group.parts))
                missing = sorted(set(range(1, group.pnum + 1)) - set(group.parts))
                reason = (
                    f"split upload incomplete after {self.timeout_s:g} s: missing PNO {missing}"
                )
                expired.append(ExpiredPartial(key, parts, group.pnum, reason))
        return expired
