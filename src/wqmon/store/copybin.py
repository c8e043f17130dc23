"""PostgreSQL binary COPY encoding of reading rows, done in bulk.

psycopg's `write_row` formats each field through its dumpers, ~3 µs per row in Python (profiled:
the largest single cost of the writer). Readings have a fixed shape, so one `struct.pack` per
row with a precompiled format does the same work several times faster. The layout is the one of
the PostgreSQL manual ("COPY … Binary Format"): a signature and two 32-bit header fields, then per
row a 16-bit field count and, per field, a 32-bit length followed by the value in network order;
a 16-bit -1 ends the data. timestamptz is int64 microseconds since 2000-01-01 UTC.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import numpy as np
import numpy.typing as npt

from wqmon.model import Reading

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_FORMATS: dict[tuple[int, int], struct.Struct] = {}


def _row_format(flag_len: int, source_len: int) -> struct.Struct:
    key = (flag_len, source_len)
    fmt = _FORMATS.get(key)
    if fmt is None:
        # 6 fields: int4 channel, timestamptz ts, float8 value, text flag, text source, timestamptz
        fmt = struct.Struct(f">hiiiqid i{flag_len}s i{source_len}s iq")
        _FORMATS[key] = fmt
    return fmt


def pg_micros(moment: datetime) -> int:
    """Microseconds since the PostgreSQL epoch, exactly (no float rounding)."""
    return (moment - PG_EPOCH) // _US


def encode_readings(readings: Iterable[Reading]) -> bytes:
    """The whole binary COPY stream for `COPY reading (channel_id, ts, value, flag, source,
    received_at) FROM STDIN (FORMAT BINARY)`."""
    parts = [HEADER]
    append = parts.append
    # Readings of one batch share timestamps (every parameter of a sample) and receipt times.
    micros: dict[datetime, int] = {}
    for channel_id, ts, value, flag, source, received_at in readings:
        flag_b = flag.encode()
        source_b = source.encode()
        received = micros.get(received_at)
        if received is None:
            received = micros[received_at] = pg_micros(received_at)
        at = micros.get(ts)
        if at is None:
            at = micros[ts] = pg_micros(ts)
        fmt = _row_format(len(flag_b), len(source_b))
        append(
            fmt.pack(
                6,
                4,
                channel_id,
                8,
                at,
                8,
                value,
                len(flag_b),
                flag_b,
                len(source_b),
                source_b,
                8,
                received,
            )
        )
    append(TRAILER)
    return b"".join(parts)


def _row_dtype(flag_len: int, source_len: int) -> np.dtype[np.void]:
    """COPY's row layout as a packed big-endian structured dtype (lengths are fields too)."""
    return np.dtype(
        [
            ("fields", ">i2"),
            ("channel_len", ">i4"),
            ("channel_id", ">i4"),
            ("ts_len", ">i4"),
            ("ts", ">i8"),
            ("value_len", ">i4"),
            ("value", ">f8"),
            ("flag_len", ">i4"),
            ("flag", f"S{flag_len}"),
            ("source_len", ">i4"),
            ("source", f"S{source_len}"),
            ("received_len", ">i4"),
            ("received", ">i8"),
        ]
    )


class Columns(Protocol):
    """What `encode_blocks` reads of a block of readings (`wqmon.ingest.columns.ReadingBlock`)."""

    channel_id: npt.NDArray[np.int32]
    ts_us: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]
    flags: list[str]
    source: str
    received_at: datetime


def _runs(flags: list[str]) -> list[tuple[int, int, str]]:
    """(start, stop, flag) of each run of equal flags (one run in the common case)."""
    if not flags:
        return []
    if flags.count(flags[0]) == len(flags):
        return [(0, len(flags), flags[0])]
    runs: list[tuple[int, int, str]] = []
    start = 0
    for i in range(1, len(flags)):
        if flags[i] != flags[start]:
            runs.append((start, i, flags[start]))
            start = i
    runs.append((start, len(flags), flags[start]))
    return runs


def _encode_run(block: Columns, start: int, stop: int, flag: bytes, source: bytes) -> bytes:
    rows = np.empty(stop - start, _row_dtype(len(flag), len(source)))
    rows["fields"] = 6
    rows["channel_len"] = 4
    rows["channel_id"] = block.channel_id[start:stop]
    rows["ts_len"] = 8
    rows["ts"] = block.ts_us[start:stop]
    rows["value_len"] = 8
    rows["value"] = block.value[start:stop]
    rows["flag_len"] = len(flag)
    rows["flag"] = flag
    rows["source_len"] = len(source)
    rows["source"] = source
    rows["received_len"] = 8
    rows["received"] = pg_micros(block.received_at)
    return rows.tobytes()


def encode_blocks(blocks: Iterable[Columns]) -> bytes:
    """The binary COPY stream of blocks of readings, rows in order, one numpy fill per run of
    rows that share a flag (the same bytes as `encode_readings` of the same rows)."""
    parts = [HEADER]
    for block in blocks:
        source = block.source.encode()
        for start, stop, flag in _runs(block.flags):
            parts.append(_encode_run(block, start, stop, flag.encode(), source))
    parts.append(TRAILER)
    return b"".join(parts)


class BlockBatch(Protocol):
    """A writer's batch kept as blocks (`wqmon.ingest.stored.ReadingBatch`)."""

    @property
    def blocks(self) -> Sequence[Columns]:
        """The blocks, in the order their rows go out."""
        ...

    def rows(self) -> list[Reading]:
        """The batch's readings as tuples (for the writer's slow paths)."""
        ...

    def stored(self) -> Sequence[Reading]:
        """All of the batch as stored readings (columns kept: what the stored hook gets)."""
        ...

    def __len__(self) -> int: ...
