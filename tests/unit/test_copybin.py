"""The bulk binary COPY encoder: exact timestamps, and the stream layout of the manual."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

from wqmon.model import Reading
from wqmon.store.copybin import HEADER, PG_EPOCH, TRAILER, encode_readings, pg_micros


def test_pg_micros_is_exact() -> None:
    assert pg_micros(PG_EPOCH) == 0
    moment = datetime(2025, 6, 1, 8, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    delta = moment - PG_EPOCH
    assert pg_micros(moment) == (delta.days * 86400 + delta.seconds) * 10**6 + 123456


def test_one_row_layout() -> None:
    ts = PG_EPOCH + timedelta(seconds=1)
    data = encode_readings([Reading(7, ts, 1.5, "N", "mqtt", PG_EPOCH)])
    assert data.startswith(HEADER)
    assert data.endswith(TRAILER)
    row = data[len(HEADER) : -len(TRAILER)]
    expected = struct.pack(">h", 6) + struct.pack(">ii", 4, 7) + struct.pack(">iq", 8, 1_000_000)
    expected += (
        struct.pack(">id", 8, 1.5) + struct.pack(">i", 1) + b"N" + struct.pack(">i", 4) + b"mqtt"
    )
    expected += struct.pack(">iq", 8, 0)
    assert row == expected


def test_empty_stream() -> None:
    assert encode_readings([]) == HEADER + TRAILER
