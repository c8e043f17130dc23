"""Turn a parsed HJ 212 upload into wqmon records.

Real-time packets (2011) give `RawReading`s from `-Rtd`; minute, hour and day packets
(2051/2061/2031) give `RawPeriodRecord`s from `-Avg/-Min/-Max/-Cou`. Codes are resolved by an
optional per-point map first, then by the catalogue (2017 codes, 2005 codes, ST=52 `e`-codes).
ST=52 `e`-codes name the process they measure (`e1…` plant inlet, `e2…` outlet), so a logger
sending both is routed by the code's role to the site's point of that role (`role_points`).
One bad item never spoils the packet: unknown codes, unroutable `e`-codes and non-numeric values
come back as `RejectedItem`s. Flow is sent in L/s (docs/field-facts.md §6), so flow values carry `unit="L/s"` and
the pipeline converts them to m³/h.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from wqmon.errors import FrameError
from wqmon.flags import normalise_flag
from wqmon.model import Period, RawPeriodRecord, RawReading
from wqmon.parameters import HJ212_NATIVE_UNITS, Kind, Parameter, lookup, parse_e_code
from wqmon.protocol.hj212.builder import CN_DAY, CN_HOUR, CN_MINUTE, CN_REALTIME
from wqmon.protocol.hj212.packet import Packet, parse_time

PERIOD_OF_CN: dict[str, Period] = {
    CN_MINUTE: Period.MINUTE,
    CN_HOUR: Period.HOUR,
    CN_DAY: Period.DAY,
}
_STAT_ATTRIBUTES = ("Avg", "Min", "Max", "Cou")
FLOW_CODE = "w00000"
UNIT_CHECK_RELATIVE = 0.02  # Cou ≈ Avg × volume / 1000 within 2 % ...
UNIT_CHECK_ABSOLUTE_KG = 0.01  # ... or within 0.01 kg, whichever is larger


@dataclass(frozen=True, slots=True)
class PointBinding:
    """Where the values of one MN go: the monitoring point the logger is registered to."""

    site: str
    point: str
    role: str  # inlet | outlet | discharge
    tz: tzinfo  # the site's zone: DataTime and SampleTime are local wall-clock times
    code_map: Mapping[str, str] = field(default_factory=dict)  # e.g. {"e10201": "cod"}
    # The site's points by role (inlet/outlet), for `e`-codes of the other process.
    role_points: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RejectedItem:
    """One CP item that could not become a record, with a short stable reason."""

    code: str
    reason: str  # unknown_parameter | unrouted_code | non_numeric | no_value | bad_time
    detail: str


@dataclass(frozen=True, slots=True)
class UnitWarning:
    """A period record whose pollutant mass disagrees with its concentration and volume."""

    parameter: str
    avg: float  # mg/L
    volume: float  # m³, from w00000-Cou
    reported_kg: float
    expected_kg: float

    def __str__(self) -> str:
        """A one-line description for logs and the API."""
        return (
            f"{self.parameter}: Cou={self.reported_kg:g} kg but Avg {self.avg:g} mg/L × "
            f"{self.volume:g} m³ / 1000 = {self.expected_kg:g} kg"
        )


@dataclass(slots=True)
class Conversion:
    """What one packet turned into."""

    readings: list[RawReading] = field(default_factory=list)
    periods: list[RawPeriodRecord] = field(default_factory=list)
    rejected: list[RejectedItem] = field(default_factory=list)
    warnings: list[UnitWarning] = field(default_factory=list)


def _resolve(code: str, binding: PointBinding) -> Parameter | None:
    mapped = binding.code_map.get(code) or binding.code_map.get(code.lower())
    return lookup(mapped or code)


def _target_point(code: str, binding: PointBinding, out: Conversion) -> str | None:
    """The point an item belongs to: the bound one, or for an `e`-code its role's point."""
    if code in binding.code_map or code.lower() in binding.code_map:
        return binding.point  # an explicit mapping is configured for the bound point
    decoded = parse_e_code(code)
    if decoded is None or decoded[1] == binding.role:
        return binding.point
    target = binding.role_points.get(decoded[1])
    if target is None:
        detail = f"{code} is a plant {decoded[1]} code but {binding.site} has no {decoded[1]} point"
        out.rejected.append(RejectedItem(code, "unrouted_code", detail))
    return target


def _number(text: str | None) -> float | None:
    """A finite float, or None for absent, empty or non-numeric text."""
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _utc(text: str, tz: tzinfo) -> datetime:
    return parse_time(text, tz).astimezone(UTC)


def _packet_time(packet: Packet, tz: tzinfo) -> datetime:
    text = packet.data_time
    if text is None:
        raise FrameError(f"CN={packet.cn} upload without DataTime")
    try:
        return _utc(text, tz)
    except ValueError as exc:
        raise FrameError(f"bad DataTime: {exc}") from exc


def _locate(code: str, binding: PointBinding, out: Conversion) -> tuple[Parameter, str] | None:
    """The parameter and the point a code reports for, or None (the rejection is recorded)."""
    parameter = _resolve(code, binding)
    if parameter is None:
        out.rejected.append(RejectedItem(code, "unknown_parameter", f"unknown code {code!r}"))
        return None
    point = _target_point(code, binding, out)
    return None if point is None else (parameter, point)


def _reading(
    code: str, attrs: Mapping[str, str], ts: datetime, binding: PointBinding, out: Conversion
) -> None:
    located = _locate(code, binding, out)
    if located is None:
        return
    parameter, point = located
    raw = attrs["Rtd"]
    value = _number(raw)
    if value is None:
        out.rejected.append(RejectedItem(code, "non_numeric", f"{code}-Rtd={raw!r}"))
        return
    sample_time = attrs.get("SampleTime")
    if sample_time:
        # The logger repeats the last analyser result in every real-time packet; stamping it
        # with its sample time makes the repeats the same row (idempotent on insert).
        try:
            ts = _utc(sample_time, binding.tz)
        except ValueError as exc:
            out.rejected.append(RejectedItem(code, "bad_time", f"SampleTime: {exc}"))
            return
    out.readings.append(
        RawReading(
            site=binding.site,
            point=point,
            parameter=parameter.code,
            ts=ts,
            value=value,
            unit=HJ212_NATIVE_UNITS.get(parameter.code),
            flag=normalise_flag(attrs.get("Flag")),
        )
    )


def _period(
    code: str,
    attrs: Mapping[str, str],
    ts: datetime,
    binding: PointBinding,
    out: Conversion,
    *,
    period: Period,
) -> None:
    located = _locate(code, binding, out)
    if located is None:
        return
    parameter, point = located
    stats = {name.lower(): _number(attrs.get(name)) for name in _STAT_ATTRIBUTES}
    bad = [
        f"{code}-{n}={attrs[n]!r}"
        for n in _STAT_ATTRIBUTES
        if n in attrs and stats[n.lower()] is None
    ]
    if bad:
        out.rejected.append(RejectedItem(code, "non_numeric", ", ".join(bad)))
        return
    out.periods.append(
        RawPeriodRecord(
            site=binding.site,
            point=point,
            parameter=parameter.code,
            period=period,
            ts=ts,
            unit=HJ212_NATIVE_UNITS.get(parameter.code),
            flag=normalise_flag(attrs.get("Flag")),
            avg=stats["avg"],
            min=stats["min"],
            max=stats["max"],
            cou=stats["cou"],
        )
    )


def convert_packet(packet: Packet, binding: PointBinding) -> Conversion:
    """Convert an upload into raw readings or period records of the bound point.

    Commands that carry no monitoring data (9014, 1013, 2081 ...) give an empty `Conversion`.

    Raises:
        FrameError: A data upload without a usable DataTime (nothing in it can be placed).
    """
    out = Conversion()
    period = PERIOD_OF_CN.get(packet.cn)
    if packet.cn != CN_REALTIME and period is None:
        return out
    ts = _packet_time(packet, binding.tz)
    value_keys = ("Rtd",) if period is None else _STAT_ATTRIBUTES
    for code, attrs in packet.cp.items.items():
        if not any(key in attrs for key in value_keys):
            detail = f"{code} has none of {', '.join(value_keys)}"
            out.rejected.append(RejectedItem(code, "no_value", detail))
        elif period is None:
            _reading(code, attrs, ts, binding, out)
        else:
            _period(code, attrs, ts, binding, out, period=period)
    if period is not None:
        out.warnings = check_period_units(out.periods)
    return out


def check_period_units(records: list[RawPeriodRecord]) -> list[UnitWarning]:
    """Check `Cou (kg) ≈ Avg (mg/L) × Cou(w00000) (m³) / 1000` for each concentration record.

    Records without an Avg, a Cou, or a flow volume in the same batch are not checked.
    """
    volume = next((r.cou for r in records if r.parameter == FLOW_CODE), None)
    if volume is None:
        return []
    warnings = []
    for record in records:
        parameter = lookup(record.parameter)
        if parameter is None or parameter.kind is not Kind.CONCENTRATION:
            continue
        if record.avg is None or record.cou is None:
            continue
        expected = record.avg * volume / 1000
        tolerance = max(
            UNIT_CHECK_RELATIVE * max(abs(expected), abs(record.cou)), UNIT_CHECK_ABSOLUTE_KG
        )
        if abs(record.cou - expected) > tolerance:
            warnings.append(UnitWarning(record.parameter, record.avg, volume, record.cou, expected))
    return warnings


@dataclass(frozen=True, slots=True)
class StandardCheck:
    """One CN 2062 result: the analyser measured a standard solution of known concentration."""

    parameter: str  # canonical code
    ts: datetime  # DataTime, UTC
    measured: float | None  # SampleRd
    standard: float | None  # StandardValue (nominal)
    passed: bool | None  # ResultType: 1 passed, 0 failed
    result_type: str | None


def standard_checks(packet: Packet, binding: PointBinding) -> list[StandardCheck]:
    """The standard-sample check results of a CN 2062 (HJ 212-2025), per known parameter.

    Codes the catalogue does not know are left out (the caller reports them).

    Raises:
        FrameError: No usable DataTime.
    """
    ts = _packet_time(packet, binding.tz)
    out = []
    for code, attrs in packet.cp.items.items():
        if not {"SampleRd", "StandardValue", "ResultType"} & attrs.keys():
            continue
        parameter = _resolve(code, binding)
        if parameter is None:
            continue
        result = attrs.get("ResultType")
        passed = {"1": True, "0": False}.get((result or "").strip())
        out.append(
            StandardCheck(
                parameter.code,
                ts,
                _number(attrs.get("SampleRd")),
                _number(attrs.get("StandardValue")),
                passed,
                result,
            )
        )
    return out
