"""The spool's file format: durable appends, order, torn tails, the size bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wqmon.ingest.spool_segments import Spool, SpooledBatch, SpoolFull, decode_batch, encode_batch
from wqmon.model import DeadLetter, PeriodRecord, Reading

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _batch(n: int, start: int = 0) -> SpooledBatch:
    readings = [
        Reading(1, T0 + timedelta(seconds=start + i), float(i), "N", "mqtt", T0) for i in range(n)
    ]
    periods = [PeriodRecord(2, "hour", T0, 1.0, None, 2.0, 3.5, "N", "hj212", T0)]
    dead = [DeadLetter("mqtt", "gw-01", b"\x00raw", "malformed_json", "bad", T0)]
    return SpooledBatch(readings, periods, dead)


def test_batches_come_back_in_order_and_intact(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10**7, segment_bytes=2_000)
    batches = [_batch(20, start=100 * k) for k in range(6)]
    for b in batches:
        spool.append(b)
    assert len(spool.segments()) > 1  # small segments: the batches span several files
    replayed: list[SpooledBatch] = []
    while (oldest := spool.oldest()) is not None:
        path, got = oldest
        replayed.extend(got)
        spool.remove(path)
    assert replayed == batches
    assert spool.empty


def test_torn_tail_is_cut_on_recovery(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10**7)
    spool.append(_batch(5))
    spool.append(_batch(5, start=10))
    segment = spool.segments()[0]
    data = segment.read_bytes()
    segment.write_bytes(data[:-7])  # a crash in the middle of the second append
    recovered = Spool(tmp_path, max_bytes=10**7)
    oldest = recovered.oldest()
    assert oldest is not None
    assert oldest[1] == [_batch(5)]


def test_full_spool_refuses(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=3_000)
    appended = 0
    with pytest.raises(SpoolFull):  # noqa: PT012 - the loop runs until the bound is hit
        for k in range(100):
            spool.append(_batch(10, start=k * 10))
            appended += 1
    assert 0 < appended < 100
    assert spool.size_bytes <= 3_000


def test_appends_after_sealing_go_to_a_new_segment(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10**7)
    spool.append(_batch(3))
    oldest = spool.oldest()
    assert oldest is not None
    spool.append(_batch(3, start=50))  # arrives while the replayer works on the sealed one
    spool.remove(oldest[0])
    again = spool.oldest()
    assert again is not None
    assert again[1] == [_batch(3, start=50)]


@given(
    st.lists(
        st.tuples(
            st.integers(0, 2**31 - 1), st.floats(allow_nan=False), st.text(min_size=1, max_size=4)
        ),
        max_size=30,
    )
)
def test_encoding_round_trip(rows: list[tuple[int, float, str]]) -> None:
    batch = SpooledBatch([Reading(c, T0, v, f, "test", T0) for c, v, f in rows], [], [])
    assert decode_batch(encode_batch(batch)) == batch
