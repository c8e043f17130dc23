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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, overload

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


class _PushedIn(msgspec.Struct, forbid_unknown_fields=True):
    """`ReadingIn` with its time left as text: parsed once per distinct time of a body."""

    point: str
    parameter: str
    ts: str
    value: float
    unit: str | None = None
    flag: str = "N"


class _PushedBody(msgspec.Struct, forbid_unknown_fields=True):
    site: str
    readings: list[_PushedIn]


class PushedReadings(Sequence[RawReading]):
    """The readings of a body as decoded, without a `RawReading` per reading.

    `wqmon.ingest.columns` reads the decoded items and `times` (each distinct time text, parsed
    once) directly; anything else sees an ordinary sequence of `RawReading`s.
    """

    __slots__ = ("items", "site", "times")

    def __init__(self, site: str, items: list[_PushedIn], times: dict[str, datetime]) -> None:
        self.site = site
        self.items = items
        self.times = times

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> RawReading: ...
    @overload
    def __getitem__(self, index: slice) -> list[RawReading]: ...
    def __getitem__(self, index: int | slice) -> RawReading | list[RawReading]:
        if isinstance(index, slice):
            return [self._raw(r) for r in self.items[index]]
        return self._raw(self.items[index])

    def __iter__(self) -> Iterator[RawReading]:
        return map(self._raw, self.items)

    def _raw(self, r: _PushedIn) -> RawReading:
        return RawReading(
            self.site, r.point, r.parameter, self.times[r.ts], r.value, r.unit, r.flag
        )


_PUSHED = msgspec.json.Decoder(_PushedBody)
_BODY = msgspec.json.Decoder(BodyIn)
_LOOSE = msgspec.json.Decoder(_LooseBody)
_READING = msgspec.json.Decoder(ReadingIn)


@dataclass(frozen=True, slots=True)
class DecodedBody:
    """A decoded body: its site, readings, and the readings refused at decoding with reasons."""

    site: str
    readings: Sequence[RawReading]
    refused: list[tuple[bytes, str]]  # (raw JSON of the reading, reason detail)


def _to_raw(site: str, r: ReadingIn) -> RawReading:
    return RawReading(site, r.point, r.parameter, r.ts, r.value, r.unit, r.flag)


def decode_body(raw: bytes) -> DecodedBody:
    """Decode a pushed body; raises PayloadError when nothing in it can be used."""
    fast = _decode_pushed(raw)
    if fast is not None:
        return fast
    try:
        body = _BODY.decode(raw)
    except msgspec.DecodeError as exc:
        if not isinstance(exc, msgspec.ValidationError):
            raise PayloadError(f"malformed JSON: {exc}", raw=raw) from exc
        return _decode_per_reading(raw)
    _check_count(len(body.readings), raw)
    return DecodedBody(body.site, [_to_raw(body.site, r) for r in body.readings], [])


def _decode_pushed(raw: bytes) -> DecodedBody | None:
    """The common case, a body that is wholly good, as `PushedReadings`; None for any other
    body, which `decode_body` then decodes as before (so its refusals and messages are kept)."""
    try:
        body = _PUSHED.decode(raw)
        if len(body.readings) > MAX_READINGS_PER_MESSAGE:
            return None
        # The same parser, so the same times accepted as `AwareDatetime` fields (RFC 3339, zone).
        times = {
            ts: msgspec.convert(ts, AwareDatetime)
            for ts in dict.fromkeys(r.ts for r in body.readings)
        }
    except msgspec.MsgspecError:
        return None
    return DecodedBody(body.site, PushedReadings(body.site, body.readings, times), [])


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
