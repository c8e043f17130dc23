"""The columnar hot path against the reference: `validate_block` must accept, convert and refuse
exactly what `validate_reading` does, reading by reading, and `encode_blocks` must produce the
bytes `encode_readings` produces for the same rows (pure)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

from wqmon.errors import RejectedReading
from wqmon.ingest.columns import validate_block
from wqmon.ingest.directory import ChannelInfo, Directory
from wqmon.ingest.stored import ReadingBatch
from wqmon.ingest.validate import Context, validate_reading
from wqmon.model import RawReading, Reading
from wqmon.parameters import by_code
from wqmon.protocol.push import PushedReadings, decode_body
from wqmon.store.copybin import encode_blocks, encode_readings

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DIRECTORY = Directory(
    channels={
        ("S1", "inlet", "w00000"): ChannelInfo(1, "S1", "inlet", "inlet", by_code("w00000")),
        ("S1", "inlet", "w01018"): ChannelInfo(2, "S1", "inlet", "inlet", by_code("w01018")),
        ("S1", "inlet", "w01001"): ChannelInfo(3, "S1", "inlet", "inlet", by_code("w01001")),
        ("S2", "out", "w01018"): ChannelInfo(4, "S2", "out", "discharge", by_code("w01018")),
    }
)
CTX = Context(DIRECTORY, NOW, "test", NOW, allowed_sites=frozenset({"S1"}))
CST = timezone(timedelta(hours=8))
AGO = NOW - timedelta(minutes=1)

# One reading per rule, each next to good ones (and a few that break two rules at once).
MIXED = [
    RawReading("S1", "inlet", "cod", AGO, 250.0),
    RawReading("S1", "inlet", "flow", AGO, 12.5, "L/s"),  # converted: 45 m³/h
    RawReading("S1", "inlet", "ph", AGO.astimezone(CST), 7.1, None, "n"),  # flag normalised
    RawReading("S2", "out", "cod", AGO, 100.0),  # site_not_allowed
    RawReading("S1", "inlet", "zinc", AGO, 1.0),  # unknown_parameter
    RawReading("S1", "inlet", "nh3n", AGO, 1.0),  # unknown_channel
    RawReading("S1", "inlet", "cod", AGO, 1.0, "furlongs"),  # unknown_unit
    RawReading("S1", "inlet", "cod", AGO, math.nan),  # non_finite
    RawReading("S1", "inlet", "cod", AGO, math.inf),  # non_finite
    RawReading("S1", "inlet", "flow", AGO, -1.0),  # negative_flow
    RawReading("S1", "inlet", "flow", AGO, -0.0),  # accepted: -0.0 is not below zero
    RawReading("S1", "inlet", "ph", AGO, 15.0),  # implausible_value
    RawReading("S1", "inlet", "cod", AGO.replace(tzinfo=None), 250.0),  # naive_time
    RawReading("S1", "inlet", "cod", NOW + timedelta(minutes=6), 250.0),  # future_time
    RawReading("S1", "inlet", "cod", NOW + timedelta(minutes=5), 251.0),  # accepted: the limit
    RawReading("S1", "inlet", "cod", datetime(1999, 12, 31, tzinfo=UTC), 250.0),  # too_old
    RawReading("S1", "inlet", "cod", AGO, 250.0, None, "toolongflag"),  # bad_flag
    RawReading("S1", "inlet", "flow", NOW + timedelta(hours=1), -5.0),  # two rules: value first
    RawReading("S1", "inlet", "cod", AGO - timedelta(seconds=1), 260.0, None, "D"),
]


def _reference(raws: list[RawReading]) -> tuple[list[Reading], list[tuple[int, str, str]]]:
    kept: list[Reading] = []
    refused: list[tuple[int, str, str]] = []
    for index, raw in enumerate(raws):
        try:
            kept.append(validate_reading(raw, CTX))
        except RejectedReading as exc:
            refused.append((index, exc.reason, exc.detail))
    return kept, refused


def test_every_rule_and_reason_is_the_reference_one() -> None:
    block, refused = validate_block(MIXED, CTX)
    kept, expected = _reference(MIXED)
    assert [(i, e.reason, e.detail) for i, e in refused] == expected
    assert block.rows() == kept
    assert all(type(r) is Reading for r in block.rows())
    assert block.rows()[1].value == 45.0  # 12.5 L/s = 45 m³/h, by hand
    assert len(expected) == 13  # the refusing rows above (nan and inf are both non_finite)
    assert {r for _, r, _ in expected} == {
        "site_not_allowed",
        "unknown_parameter",
        "unknown_channel",
        "unknown_unit",
        "non_finite",
        "negative_flow",
        "implausible_value",
        "naive_time",
        "future_time",
        "too_old",
        "bad_flag",
    }


def test_values_that_are_not_numbers_go_the_reference_way() -> None:
    raws = [*MIXED[:3], RawReading("S1", "inlet", "cod", AGO, True), MIXED[7]]  # type: ignore[arg-type]
    block, refused = validate_block(raws, CTX)
    kept, expected = _reference(raws)
    assert [(i, e.reason, e.detail) for i, e in refused] == expected
    assert [e[1] for e in expected] == ["non_numeric", "non_finite"]
    assert block.rows() == kept


def test_a_pushed_body_is_validated_from_its_decoded_columns() -> None:
    doc = {
        "site": "S1",
        "readings": [
            {"point": "inlet", "parameter": "cod", "ts": "2025-06-01T19:59:00+08:00", "value": 250},
            {
                "point": "inlet",
                "parameter": "flow",
                "ts": "2025-06-01T11:59:00Z",
                "value": 10,
                "unit": "L/s",
            },
            {"point": "inlet", "parameter": "ph", "ts": "2025-06-01T11:59:00Z", "value": 99},
            {"point": "inlet", "parameter": "cod", "ts": "2025-06-01T13:00:00Z", "value": 1},
        ],
    }
    decoded = decode_body(json.dumps(doc).encode())
    assert isinstance(decoded.readings, PushedReadings)
    block, refused = validate_block(decoded.readings, CTX)
    kept, expected = _reference(list(decoded.readings))
    assert [(i, e.reason) for i, e in refused] == [(i, r) for i, r, _ in expected]
    assert [(i, r) for i, r, _ in expected] == [(2, "implausible_value"), (3, "future_time")]
    assert block.rows() == kept
    assert [r.value for r in kept] == [250.0, 36.0]  # 10 L/s = 36 m³/h, by hand


def test_a_body_with_a_bad_time_takes_the_salvaging_decoder() -> None:
    doc = {
        "site": "S1",
        "readings": [
            {"point": "inlet", "parameter": "cod", "ts": "2025-06-01T11:59:00Z", "value": 1},
            {"point": "inlet", "parameter": "cod", "ts": "2025-06-01T11:58:00", "value": 2},
        ],
    }
    decoded = decode_body(json.dumps(doc).encode())
    assert not isinstance(decoded.readings, PushedReadings)
    assert len(decoded.readings) == 1
    assert len(decoded.refused) == 1


def test_blocks_encode_to_the_bytes_of_their_rows() -> None:
    first, _ = validate_block(MIXED, CTX)
    second, _ = validate_block(MIXED[:3], Context(DIRECTORY, NOW, "mqtt", NOW + timedelta(1)))
    batch = ReadingBatch([first, second])
    assert len(batch) == len(first) + len(second) == 9
    assert encode_blocks(batch.blocks) == encode_readings(batch.rows())


def test_an_envelope_without_readings_gives_an_empty_block() -> None:
    block, refused = validate_block([], CTX)
    assert (len(block), block.rows(), refused) == (0, [], [])
