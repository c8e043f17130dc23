"""Request planning: merge a device's register blocks into the fewest Modbus reads.

Every point needs one to three blocks (value, status, sample time). Blocks of the same register
type that are adjacent, overlapping or separated by at most `max_gap` unused registers are read
in one request, within the protocol limits (125 registers, 2000 bits per read). After the read,
`slice_response` hands every block its own words back. Pure: no I/O.

`max_gap` defaults to 0 because many instruments answer a read that touches an undefined
register with exception 02 (illegal data address); raise it only for devices known to tolerate it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from wqmon.protocol.modbus.profiles import Point, Profile, RegisterType

MAX_REGISTERS_PER_READ = 125  # FC 03/04: 125 × 2 bytes fit the 253-byte PDU
MAX_BITS_PER_READ = 2000  # FC 01/02


def read_limit(register_type: RegisterType) -> int:
    """The most registers (or bits) one read of this type may request."""
    return MAX_BITS_PER_READ if register_type.is_bit else MAX_REGISTERS_PER_READ


@dataclass(frozen=True, slots=True)
class Block:
    """A run of registers one consumer needs; `key` identifies it in the sliced result."""

    key: Hashable
    register_type: RegisterType
    address: int
    count: int

    @property
    def end(self) -> int:
        """One past the last address."""
        return self.address + self.count


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One Modbus read and the blocks it serves."""

    register_type: RegisterType
    address: int
    count: int
    blocks: tuple[Block, ...]


def _merge_run(blocks: list[Block], max_gap: int) -> list[ReadRequest]:
    """Merge blocks of one register type, sorted by address, greedily from the lowest."""
    limit = read_limit(blocks[0].register_type)
    requests: list[ReadRequest] = []
    members: list[Block] = []
    start = end = 0
    for block in blocks:
        if block.count > limit:
            raise ValueError(f"block {block.key!r} needs {block.count} > {limit} registers")
        fits = (
            bool(members)
            and block.address - end <= max_gap
            and max(end, block.end) - start <= limit
        )
        if not fits:
            if members:
                requests.append(_request(members, start, end))
            members, start, end = [], block.address, block.end
        members.append(block)
        end = max(end, block.end)
    requests.append(_request(members, start, end))
    return requests


def _request(members: list[Block], start: int, end: int) -> ReadRequest:
    return ReadRequest(members[0].register_type, start, end - start, tuple(members))


def plan_reads(blocks: Sequence[Block], *, max_gap: int = 0) -> list[ReadRequest]:
    """Merge blocks into the fewest read requests.

    Args:
        blocks: The register runs wanted, in any order; overlaps are allowed.
        max_gap: Unused registers (or bits) a request may span to join two blocks.

    Returns:
        Requests ordered by register type, then address.

    Raises:
        ValueError: A negative gap, or a single block larger than one read allows.
    """
    if max_gap < 0:
        raise ValueError("max_gap must be >= 0")
    requests: list[ReadRequest] = []
    for register_type in RegisterType:
        run = sorted(
            (b for b in blocks if b.register_type is register_type),
            key=lambda b: (b.address, b.count),
        )
        if run:
            requests.extend(_merge_run(run, max_gap))
    return requests


def slice_response(request: ReadRequest, data: Sequence[int]) -> dict[Hashable, list[int]]:
    """Cut the words (or bits, as 0/1) a request returned into each of its blocks.

    Raises:
        ValueError: The response is shorter than the request (bit reads may return more: the
            reply is padded to whole bytes, and the padding is ignored).
    """
    if len(data) < request.count:
        raise ValueError(f"asked for {request.count} values at {request.address}, got {len(data)}")
    return {
        block.key: [
            int(v) for v in data[block.address - request.address : block.end - request.address]
        ]
        for block in request.blocks
    }


def point_blocks(point: Point) -> list[Block]:
    """The register blocks of one point, keyed ``(point name, part)``.

    Parts are ``value``, ``status`` and ``sample_time``, matching `profiles.decode_point`.
    """
    blocks = [Block((point.name, "value"), point.register_type, point.address, point.count)]
    if point.status is not None:
        status = point.status
        blocks.append(
            Block((point.name, "status"), status.register_type, status.address, status.count)
        )
    if point.sample_time is not None:
        stamp = point.sample_time
        blocks.append(
            Block((point.name, "sample_time"), stamp.register_type, stamp.address, stamp.count)
        )
    return blocks


def plan_profile(
    profile: Profile, *, points: Sequence[str] | None = None, max_gap: int = 0
) -> list[ReadRequest]:
    """Plan the reads for a profile's points (all of them, or those named)."""
    chosen = profile.points if points is None else [profile.point(name) for name in points]
    return plan_reads([b for p in chosen for b in point_blocks(p)], max_gap=max_gap)


def group_by_point(
    sliced: dict[Hashable, list[int]],
) -> dict[str, dict[str, list[int]]]:
    """Regroup sliced blocks ``{(point, part): words}`` into ``{point: {part: words}}``."""
    grouped: dict[str, dict[str, list[int]]] = {}
    for key, words in sliced.items():
        if isinstance(key, tuple) and len(key) == 2:  # noqa: PLR2004 - (point, part) keys
            point, part = key
            grouped.setdefault(str(point), {})[str(part)] = words
    return grouped
