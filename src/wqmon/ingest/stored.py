"""The readings a commit stored, as commit listeners and writer hooks receive them.

Building a `Reading` tuple per stored reading for the listeners cost `wqmon ingest` more than
validating it (profiled: 12 % of the process at 74k readings/s, docs/scaling.md §1). Listeners
on the hot path read the columns instead: the rollup maintainer wants each (channel, hour) once,
the alarm process forwards arrays to its child. Any other listener sees an ordinary sequence of
`Reading`s, built on first use.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from itertools import groupby
from typing import overload

import numpy as np

from wqmon.ingest.columns import ReadingBlock
from wqmon.model import Reading
from wqmon.store.copybin import PG_EPOCH

_US_PER_HOUR = 3_600_000_000
_HOUR = timedelta(hours=1)


class StoredReadings(Sequence[Reading]):
    """Newly stored readings: column blocks first, tuples only when something iterates."""

    __slots__ = ("_blocks", "_rows")

    def __init__(self, blocks: Sequence[ReadingBlock] = ()) -> None:
        self._blocks: list[ReadingBlock] | None = list(blocks)
        self._rows: list[Reading] | None = None

    @classmethod
    def of_rows(cls, rows: list[Reading]) -> StoredReadings:
        """Readings the writer reported one by one (replays, isolated batches)."""
        stored = cls()
        stored._blocks = None
        stored._rows = rows
        return stored

    def blocks(self) -> list[ReadingBlock]:
        """The readings as blocks (rows of one source and receipt time share a block)."""
        if self._blocks is None:
            rows = self._rows or []
            self._blocks = [
                ReadingBlock.of(list(group), source, received)
                for (source, received), group in groupby(
                    rows, key=lambda r: (r.source, r.received_at)
                )
            ]
        return self._blocks

    def rows(self) -> list[Reading]:
        if self._rows is None:
            self._rows = [r for block in self._blocks or [] for r in block.rows()]
        return self._rows

    def channel_hours(self) -> list[tuple[int, datetime]]:
        """(channel, UTC hour) once per channel-hour of these readings, in no set order."""
        blocks = [b for b in self.blocks() if len(b)]
        if not blocks:
            return []
        channel = np.concatenate([b.channel_id for b in blocks]).astype(np.int64)
        hour = np.concatenate([b.ts_us for b in blocks]) // _US_PER_HOUR  # floors before 2000 too
        # One int64 key per reading (hours since 2000 fit in 32 bits, signed, for ±245,000 years).
        keys = np.unique((channel << 32) | (hour & 0xFFFFFFFF))
        hours = (keys & 0xFFFFFFFF).astype(np.int32)  # back to signed
        return [
            (c, PG_EPOCH + h * _HOUR)
            for c, h in zip((keys >> 32).tolist(), hours.tolist(), strict=True)
        ]

    def __len__(self) -> int:
        if self._rows is not None:
            return len(self._rows)
        return sum(len(b) for b in self._blocks or [])

    @overload
    def __getitem__(self, index: int) -> Reading: ...
    @overload
    def __getitem__(self, index: slice) -> list[Reading]: ...
    def __getitem__(self, index: int | slice) -> Reading | list[Reading]:
        return self.rows()[index]

    def __iter__(self) -> Iterator[Reading]:
        return iter(self.rows())


class ReadingBatch:
    """The blocks of a writer's batch: COPY is encoded from them, tuples built only on demand."""

    __slots__ = ("blocks",)

    def __init__(self, blocks: Sequence[ReadingBlock]) -> None:
        self.blocks = blocks

    def __len__(self) -> int:
        return sum(len(b) for b in self.blocks)

    def rows(self) -> list[Reading]:
        return [r for b in self.blocks for r in b.rows()]

    def stored(self) -> StoredReadings:
        """All of the batch, as the readings a commit stored (when every one was new)."""
        return StoredReadings(self.blocks)
