"""A local durable spool for batches the database cannot take right now (docs/contracts.md §2).

Append-only segment files in one folder. A batch is appended as one record and fsync'd before
its sources are acknowledged; records are replayed in order when the database is back, and a
segment is removed only after every record in it is committed. Replays are harmless because the
store is idempotent (ADR 0002).

Record layout: 4-byte big-endian length, 4-byte CRC-32 of the payload, payload (msgpack of the
batch's readings, period records and dead letters). A crash in the middle of an append leaves a
torn tail, which recovery detects by length or CRC and cuts off: that batch was never
acknowledged, so nothing acknowledged is lost.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec

from wqmon.model import DeadLetter, DeadRow, PeriodRecord, PeriodRow, Reading

_HEADER = struct.Struct(">II")
SEGMENT_BYTES = 64 * 1024 * 1024


class SpoolFull(Exception):
    """The spool has reached its size bound; the caller must hold its sources back."""


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """What one record holds."""

    readings: list[Reading]
    periods: list[PeriodRecord]
    dead_letters: list[DeadLetter]


_ReadingRow = tuple[int, datetime, float, str, str, datetime]
_Record = tuple[list[_ReadingRow], list[PeriodRow], list[DeadRow]]
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Record)


def encode_batch(batch: SpooledBatch) -> bytes:
    record = (
        [tuple(r) for r in batch.readings],
        [p.as_row() for p in batch.periods],
        [d.as_row() for d in batch.dead_letters],
    )
    return _encoder.encode(record)


def decode_batch(payload: bytes) -> SpooledBatch:
    readings, periods, dead = _decoder.decode(payload)
    return SpooledBatch(
        [Reading(*r) for r in readings],
        [PeriodRecord(*p) for p in periods],
        [DeadLetter(*d) for d in dead],
    )


class Spool:
    """Segments `NNNNNNNNNN.seg` in a folder; the highest number is the one being appended to."""

    def __init__(self, folder: Path, max_bytes: int, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        folder.mkdir(parents=True, exist_ok=True)
        self._recover()

    # -- state ---------------------------------------------------------------------------------

    def segments(self) -> list[Path]:
        return sorted(self.folder.glob("*.seg"))

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.segments())

    @property
    def empty(self) -> bool:
        return all(p.stat().st_size == 0 for p in self.segments())

    def _recover(self) -> None:
        """Cut a torn tail off every segment (a crash mid-append) and drop empty segments."""
        for path in self.segments():
            good = _valid_prefix(path.read_bytes())
            if good != path.stat().st_size:
                with path.open("r+b") as fh:
                    fh.truncate(good)
                    os.fsync(fh.fileno())
            if good == 0:
                path.unlink()

    # -- append --------------------------------------------------------------------------------

    def append(self, batch: SpooledBatch) -> None:
        """Write one batch durably (fsync) or raise SpoolFull."""
        payload = encode_batch(batch)
        record = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        if self.size_bytes + len(record) > self.max_bytes:
            raise SpoolFull(f"spool {self.folder} would exceed {self.max_bytes} bytes")
        path = self._active_segment(len(record))
        new = not path.exists()
        with path.open("ab") as fh:
            fh.write(record)
            fh.flush()
            os.fsync(fh.fileno())
        if new:
            _fsync_dir(self.folder)

    def _active_segment(self, incoming: int) -> Path:
        existing = self.segments()
        if existing and existing[-1].stat().st_size + incoming <= self.segment_bytes:
            return existing[-1]
        number = int(existing[-1].stem) + 1 if existing else 1
        return self.folder / f"{number:010d}.seg"

    # -- replay --------------------------------------------------------------------------------

    def oldest(self) -> tuple[Path, list[SpooledBatch]] | None:
        """The oldest non-empty segment and its batches, or None when there is nothing to replay.

        The segment is sealed first (appends go to a new file from then on), so the caller can
        remove it once its batches are committed.
        """
        existing = self.segments()
        filled = [p for p in existing if p.stat().st_size > 0]
        if not filled:
            return None
        path = filled[0]
        if path == existing[-1]:
            (self.folder / f"{int(path.stem) + 1:010d}.seg").touch()
        return path, [decode_batch(p) for p in _records(path.read_bytes())]

    def remove(self, path: Path) -> None:
        """Delete a segment whose every batch is committed (and empty ones before it)."""
        for older in self.segments():
            if older == path or (older < path and older.stat().st_size == 0):
                older.unlink(missing_ok=True)
        _fsync_dir(self.folder)


def _records(data: bytes) -> list[bytes]:
    out: list[bytes] = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        payload = data[start : start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        out.append(payload)
        offset = start + length
    return out


def _valid_prefix(data: bytes) -> int:
    return sum(_HEADER.size + len(p) for p in _records(data))


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
