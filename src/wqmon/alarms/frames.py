"""Committed readings as frames for the alarm child: columns on the wire, tuples in the child.

The parent's side runs on ingest's event loop for every commit, so it encodes each block's
arrays as bytes (three `tobytes`, no per-reading work); the child, which has a core of its own,
rebuilds the `Reading` tuples the engine evaluates. Parent and child are the same machine and
the same build, so the arrays travel in native byte order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial

import msgspec
import numpy as np

from wqmon.ingest.stored import StoredReadings
from wqmon.model import Reading
from wqmon.store.copybin import PG_EPOCH, pg_micros

# One block: channel ids (int32), times (int64 µs since 2000), values (float64), flags,
# source, receipt time (µs since 2000).
_Block = tuple[bytes, bytes, bytes, list[str], str, int]
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[_Block])
# `Reading(...)` runs NamedTuple's Python-level __new__; tuple.__new__ builds the same in C.
_new_reading = partial(tuple.__new__, Reading)


def encode_readings(readings: Sequence[Reading]) -> bytes:
    """One frame's payload: the readings' blocks as arrays."""
    stored = (
        readings if isinstance(readings, StoredReadings) else StoredReadings.of_rows(list(readings))
    )
    blocks: list[_Block] = [
        (
            b.channel_id.tobytes(),
            b.ts_us.tobytes(),
            b.value.tobytes(),
            b.flags,
            b.source,
            pg_micros(b.received_at),
        )
        for b in stored.blocks()
        if len(b)
    ]
    return _encoder.encode(blocks)


def decode_readings(payload: bytes) -> list[Reading]:
    """The readings of a frame, as the tuples the engine takes."""
    readings: list[Reading] = []
    for channels, times, values, flags, source, received_us in _decoder.decode(payload):
        received = _moment(received_us)
        moments: dict[int, datetime] = {}
        for channel_id, us, value, flag in zip(
            np.frombuffer(channels, np.int32).tolist(),
            np.frombuffer(times, np.int64).tolist(),
            np.frombuffer(values, np.float64).tolist(),
            flags,
            strict=True,
        ):
            ts = moments.get(us)
            if ts is None:
                ts = moments[us] = _moment(us)
            readings.append(_new_reading((channel_id, ts, value, flag, source, received)))
    return readings


def _moment(us: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=us)
