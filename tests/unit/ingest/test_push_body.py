"""The pushed body (MQTT and HTTP share `envelope_from_body`): strict as a whole, salvage per reading."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from wqmon.ingest.push import BodyRefused, envelope_from_body
from wqmon.model import Source
from wqmon.protocol.push import MAX_READINGS_PER_MESSAGE

GOOD = {"point": "outfall", "parameter": "cod", "ts": "2025-06-01T08:00:00+08:00", "value": 1.0}
BAD = {"point": "outfall", "parameter": "cod", "ts": "2025-06-01T08:00:00+08:00", "value": "x"}


def _envelope(body: object, source: Source = Source.HTTP) -> object:
    return envelope_from_body(
        json.dumps(body).encode(),
        source=source,
        peer="gw-01",
        allowed_sites=frozenset({"ENT-01"}),
        received=datetime.now(UTC),
    )


@pytest.mark.parametrize("source", [Source.HTTP, Source.MQTT])
@pytest.mark.parametrize("with_bad_reading", [False, True])
def test_more_readings_than_the_cap_refuse_the_body(source: Source, with_bad_reading: bool) -> None:
    readings = [GOOD] * MAX_READINGS_PER_MESSAGE + ([BAD] if with_bad_reading else [GOOD])
    with pytest.raises(BodyRefused) as refused:
        _envelope({"site": "ENT-01", "readings": readings}, source)
    assert refused.value.reason == "invalid_payload"
    assert str(MAX_READINGS_PER_MESSAGE) in refused.value.detail


@pytest.mark.parametrize("source", [Source.HTTP, Source.MQTT])
@pytest.mark.parametrize("readings", [[GOOD], [GOOD, BAD]])
def test_an_unknown_top_level_field_refuses_the_body(
    source: Source, readings: list[object]
) -> None:
    with pytest.raises(BodyRefused) as refused:
        _envelope({"site": "ENT-01", "readings": readings, "sitee": "x"}, source)
    assert refused.value.reason == "invalid_payload"
    assert "sitee" in refused.value.detail


def test_a_bad_reading_is_refused_alone_at_the_cap() -> None:
    envelope = _envelope(
        {"site": "ENT-01", "readings": [GOOD] * (MAX_READINGS_PER_MESSAGE - 1) + [BAD]}
    )
    assert len(envelope.readings) == MAX_READINGS_PER_MESSAGE - 1  # type: ignore[attr-defined]
    assert [d.reason for d in envelope.rejected] == ["invalid_reading"]  # type: ignore[attr-defined]
