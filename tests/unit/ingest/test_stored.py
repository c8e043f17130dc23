"""The stored readings commit listeners get: columns and tuples agree, hours are right."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from wqmon.alarms.frames import decode_readings, encode_readings
from wqmon.api.push_relay import notes_for
from wqmon.balance.job import changed_hours
from wqmon.ingest.columns import ReadingBlock
from wqmon.ingest.stored import StoredReadings
from wqmon.model import Reading

RECEIVED = datetime(2025, 6, 1, 8, 0, 1, 250, tzinfo=UTC)


def readings() -> list[Reading]:
    start = datetime(1999, 12, 31, 22, 59, 30, tzinfo=UTC)  # hours on both sides of 2000
    return [
        Reading(
            1 + n % 3,
            start + timedelta(minutes=7 * n),
            1.5 * n,
            "N" if n % 5 else "M",
            "mqtt" if n < 20 else "http",
            RECEIVED if n < 20 else RECEIVED + timedelta(hours=1),
        )
        for n in range(40)
    ]


def hours_by_hand(rows: list[Reading]) -> set[tuple[int, datetime]]:
    return {(r.channel_id, r.ts.replace(minute=0, second=0, microsecond=0)) for r in rows}


def test_channel_hours_are_each_channel_hour_once() -> None:
    rows = readings()
    stored = StoredReadings(
        [
            ReadingBlock.of(rows[:20], "mqtt", RECEIVED),
            ReadingBlock.of(rows[20:], "http", rows[20].received_at),
        ]
    )
    hours = stored.channel_hours()
    assert len(hours) == len(set(hours))
    assert set(hours) == hours_by_hand(rows)
    assert all(h.tzinfo is not None for _, h in hours)


def test_columns_and_tuples_agree() -> None:
    rows = readings()
    from_rows = StoredReadings.of_rows(rows)
    assert len(from_rows) == 40
    assert [len(b) for b in from_rows.blocks()] == [20, 20]  # one per source and receipt time
    again = StoredReadings(from_rows.blocks())
    assert list(again) == rows
    assert again[3] == rows[3]
    assert set(again.channel_hours()) == hours_by_hand(rows)


def test_rollup_hours_from_columns_match_those_from_tuples() -> None:
    rows = readings()
    by_columns = {(c, h) for c, _, h in changed_hours(StoredReadings.of_rows(rows), [])}
    by_tuples = {(c, ts.replace(minute=0, second=0)) for c, _, ts in changed_hours(rows, [])}
    assert by_columns == by_tuples == hours_by_hand(rows)


def test_alarm_frames_carry_every_field() -> None:
    rows = readings()
    assert decode_readings(encode_readings(StoredReadings.of_rows(rows))) == rows
    assert decode_readings(encode_readings(rows)) == rows
    assert decode_readings(encode_readings(StoredReadings())) == []


def test_push_notes_from_columns_are_those_from_tuples() -> None:
    rows = readings()
    assert notes_for(StoredReadings.of_rows(rows)) == notes_for(rows)
    note = json.loads(notes_for(rows)[0])
    assert note["c"] == [1, 2, 3]
    assert note["f"] == "1999-12-31T22:59:30+00:00"  # the first reading's time, by hand
    assert notes_for(StoredReadings()) == []
