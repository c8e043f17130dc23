"""The JSON body pushed by gateways over MQTT and HTTP (docs/contracts.md §1), decoded with msgspec.

    {"site": "WWTP-01", "readings": [{"point": "inlet", "parameter": "cod",
      "ts": "2025-06-01T08:00:00+08:00", "value": 231.5, "unit": "mg/L", "flag": "N"}]}

msgspec decodes and type-checks a reading in about a microsecond (docs/performance-notes.md §3); pydantic per
reading is five times slower. A body whose shape is wrong as a whole is refused; when only some
readings have wrong types, the good ones are kept and each bad one is refused with its reason.
Both paths hold the body to the same rules: no unknown top-level field, at most
`MAX_READINGS_PER_MESSAGE` readings (one bad reading must not lift the cap).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import msgspec

from wqmon.errors import PayloadError
from wqmon.model import RawReading

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
MAX_READINGS_PER_MESSAGE = 50_000


class ReadingIn(msgspec.Struct, forbid_unknown_fields=True):
    """One reading of a pushed body."""

    point: str
    parameter: str
    ts: AwareDatetime
    value: float
    unit: str | None = None
    flag: str = "N"


class BodyIn(msgspec.Struct, forbid_unknown_fields=True):
    """A whole pushed body: one site, many readings."""

    site: str
    readings: list[ReadingIn]


class _LooseBody(msgspec.Struct, forbid_unknown_fields=True):
    site: str
    readings: list[msgspec.Raw]


_BODY = msgspec.json.Decoder(BodyIn)
_LOOSE = msgspec.json.Decoder(_LooseBody)
_READING = msgspec.json.Decoder(ReadingIn)


@dataclass(frozen=True, slots=True)
class DecodedBody:
    """A decoded body: its site, readings, and the readings refused at decoding with reasons."""

    site: str
    readings: list[RawReading]
    refused: list[tuple[bytes, str]]  # (raw JSON of the reading, reason detail)


def _to_raw(site: str, r: ReadingIn) -> RawReading:
    return RawReading(site, r.point, r.parameter, r.ts, r.value, r.unit, r.flag)


def decode_body(raw: bytes) -> DecodedBody:
    """Decode a pushed body; raises PayloadError when nothing in it can be used."""
    try:
        body = _BODY.decode(raw)
    except msgspec.DecodeError as exc:
        if not isinstance(exc, msgspec.ValidationError):
            raise PayloadError(f"malformed JSON: {exc}", raw=raw) from exc
        return _decode_per_reading(raw)
    _check_count(len(body.readings), raw)
    return DecodedBody(body.site, [_to_raw(body.site, r) for r in body.readings], [])


def _decode_per_reading(raw: bytes) -> DecodedBody:
    """Salvage the readings that decode when some do not (the slow path, for bad bodies only)."""
    try:
        loose = _LOOSE.decode(raw)
    except msgspec.DecodeError as exc:
        raise PayloadError(f"invalid body: {exc}", raw=raw) from exc
    _check_count(len(loose.readings), raw)
    readings: list[RawReading] = []
    refused: list[tuple[bytes, str]] = []
    for item in loose.readings:
        try:
            readings.append(_to_raw(loose.site, _READING.decode(item)))
        except msgspec.DecodeError as exc:
            refused.append((bytes(item), str(exc)))
    return DecodedBody(loose.site, readings, refused)


def _check_count(count: int, raw: bytes) -> None:
    if count > MAX_READINGS_PER_MESSAGE:
        raise PayloadError(f"more than {MAX_READINGS_PER_MESSAGE} readings in one body", raw=raw)
