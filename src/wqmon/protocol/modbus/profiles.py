"""YAML device profiles: the register map of one instrument model.

A profile names the instrument, cites where its map comes from and how sure we are, and lists
its points (one measured quantity each): register type, 0-based PDU address, data type, byte
order, scale/offset, unit, sentinels, and optionally a status register (mapped to HJ 212 flags)
and a sample-time register. Shipped profiles live in ``wqmon/protocol/modbus/profiles/*.yaml``
and load by name; users may load their own file by path. See docs/modbus.md.

Addresses: an integer is the 0-based PDU address sent on the wire. Manual-style register numbers
are accepted as *quoted strings* and converted: ``"40001"``/``"400001"``/``"4:00001"`` are
holding register PDU address 0, ``"3xxxx"`` input registers, ``"1xxxx"`` discrete inputs,
``"0xxxx"`` coils; ``"0x242F"`` is a hexadecimal PDU address. Off-by-one is the most common
Modbus integration bug (docs/field-facts.md §10), hence the explicit forms.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from wqmon.errors import ConfigError, RejectedReading
from wqmon.flags import MAX_FLAG_LENGTH, Flag
from wqmon.parameters import conversion_factor, lookup
from wqmon.protocol.modbus.registers import (
    BCD_TIME_REGISTERS,
    ByteOrder,
    DataType,
    ValueSpec,
    decode_ascii,
    decode_bcd_time,
    decode_raw,
    measure,
    register_count,
    status_flag,
)

# Shipped YAML files sit in the `profiles/` folder next to this module (a data folder, not a
# package: the name would clash with this module).
_PACKAGE = "wqmon.protocol.modbus"
_FOLDER = "profiles"


class RegisterType(StrEnum):
    """The four Modbus data tables, with the function code that reads each."""

    COIL = "coil"  # FC 01
    DISCRETE = "discrete"  # FC 02
    HOLDING = "holding"  # FC 03
    INPUT = "input"  # FC 04

    @property
    def is_bit(self) -> bool:
        """Whether the table holds single bits rather than 16-bit registers."""
        return self in (RegisterType.COIL, RegisterType.DISCRETE)


class Confidence(StrEnum):
    """How sure we are of a register map (the confidence marks of docs/field-facts.md)."""

    VERIFIED = "verified"  # checked against the vendor's primary document or a real device
    SECONDARY = "secondary"  # from public driver code, articles or manual excerpts
    UNVERIFIED = "unverified"  # inferred; confirm during commissioning


_REFERENCE_TYPES = {
    "0": RegisterType.COIL,
    "1": RegisterType.DISCRETE,
    "3": RegisterType.INPUT,
    "4": RegisterType.HOLDING,
}
_COLON_FORM = re.compile(r"^([0134]):0*(\d{1,5})$")
_PLAIN_FORM = re.compile(r"^([0134])(\d{4,5})$")
_HEX_FORM = re.compile(r"^0[xX][0-9a-fA-F]{1,4}$")
MAX_ADDRESS = 0xFFFF


def parse_address(address: int | str) -> tuple[int, RegisterType | None]:
    """Convert an address as written in a profile into (0-based PDU address, implied type).

    Args:
        address: An int (PDU address as is), ``"0x242F"`` (hex PDU address), ``"4:03003"``,
            ``"403003"`` or ``"43003"`` (1-based register reference; the first digit names the
            table: 0 coil, 1 discrete, 3 input, 4 holding).

    Returns:
        The PDU address and the register type the reference implies (None for plain numbers).

    Raises:
        ValueError: An unknown form, register number 0, or an address beyond 65535.
    """
    if isinstance(address, int):
        pdu, implied = address, None
    elif _HEX_FORM.match(address.strip()):
        pdu, implied = int(address.strip(), 16), None
    else:
        text = address.strip()
        match = _COLON_FORM.match(text) or _PLAIN_FORM.match(text)
        if match is None:
            raise ValueError(
                f"address {address!r}: use an integer PDU address, '0x….' hex, or a register"
                " reference such as '40001', '400001' or '4:00001'"
            )
        number = int(match.group(2))
        if number == 0:
            raise ValueError(f"address {address!r}: register references start at 1")
        pdu, implied = number - 1, _REFERENCE_TYPES[match.group(1)]
    if not 0 <= pdu <= MAX_ADDRESS:
        raise ValueError(f"address {address!r} is outside 0..65535")
    return pdu, implied


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Located(_Strict):
    """A register block: type and 0-based PDU address, from any accepted address form."""

    register_type: RegisterType = RegisterType.HOLDING
    address: int = Field(ge=0, le=MAX_ADDRESS)

    @model_validator(mode="before")
    @classmethod
    def _resolve_address(cls, data: Any) -> Any:
        # Convert "4:03003"-style references before field validation, so `address` is an int.
        address = data.get("address") if isinstance(data, dict) else None
        if isinstance(address, bool) or not isinstance(address, int | str):
            return data  # let field validation report the missing or mistyped address
        pdu, implied = parse_address(data["address"])
        declared = data.get("register_type")
        if implied and declared is not None and declared != implied.value:
            raise ValueError(
                f"address {data['address']!r} refers to {implied} registers"
                f" but register_type is {declared}"
            )
        resolved = {**data, "address": pdu}
        if implied and declared is None:
            resolved["register_type"] = implied.value
        return resolved


class StatusSpec(_Located):
    """A status register whose content maps to an HJ 212 flag for the point."""

    count: int = Field(1, ge=1, le=16)
    encoding: Literal["ascii", "code"] = "ascii"  # ASCII characters, or an unsigned number
    map: dict[str, str] = Field(default_factory=dict)
    default: str | None = Field(None, max_length=MAX_FLAG_LENGTH)  # for unmapped statuses

    @field_validator("map", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        # YAML reads numeric state codes (0: N) as ints; they are matched as decoded text.
        if isinstance(value, dict):
            return {str(key): flag for key, flag in value.items()}
        return value

    @field_validator("map")
    @classmethod
    def _flags_fit(cls, value: dict[str, str]) -> dict[str, str]:
        for key, flag in value.items():
            if not 0 < len(flag) <= MAX_FLAG_LENGTH:
                raise ValueError(f"flag {flag!r} for status {key!r} must be 1-4 characters")
        return value

    def flag(self, words: list[int], order: ByteOrder) -> str:
        """The HJ 212 flag these status registers announce."""
        if self.encoding == "ascii":
            text = decode_ascii(words, order)
        else:
            text = str(int(decode_raw(words[:1], DataType.UINT16, order)))
        return status_flag(text, self.map, self.default)


class SampleTimeSpec(_Located):
    """A register block holding the time the analyser took the sample behind its value."""

    encoding: Literal["bcd6"] = "bcd6"  # 3 registers BCD YYMMDDhhmmss, local time

    @property
    def count(self) -> int:
        """Registers the sample time occupies."""
        return BCD_TIME_REGISTERS


class Point(_Located):
    """One measured quantity of a device."""

    name: str = Field(min_length=1)
    parameter: str
    data_type: DataType
    order: ByteOrder | None = None  # None: the profile's byte_order
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None  # None: already the parameter's canonical unit
    sentinels: list[float] = Field(default_factory=list)  # raw values meaning "no measurement"
    status: StatusSpec | None = None
    sample_time: SampleTimeSpec | None = None
    note: str | None = None

    @field_validator("parameter")
    @classmethod
    def _known_parameter(cls, value: str) -> str:
        if lookup(value) is None:
            raise ValueError(f"unknown parameter {value!r} (use a wqmon alias or HJ 212 code)")
        return value

    @field_validator("scale")
    @classmethod
    def _usable_scale(cls, value: float) -> float:
        if value == 0 or not math.isfinite(value):
            raise ValueError("scale must be a finite, non-zero number")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.register_type.is_bit and self.data_type is not DataType.BOOL:
            raise ValueError(
                f"{self.register_type} points hold single bits: data_type must be bool"
            )
        parameter = lookup(self.parameter)
        if parameter is not None:
            try:
                conversion_factor(parameter, self.unit)
            except RejectedReading as exc:
                raise ValueError(exc.detail) from exc
        return self

    @property
    def count(self) -> int:
        """Registers (or bits) the value occupies."""
        return register_count(self.data_type)

    def value_spec(self, default_order: ByteOrder) -> ValueSpec:
        """The codec spec of this point, with the profile's order where none is given."""
        return ValueSpec(
            data_type=self.data_type,
            order=self.order or default_order,
            scale=self.scale,
            offset=self.offset,
            sentinels=frozenset(self.sentinels),
        )


class Profile(_Strict):
    """The register map of one instrument model."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    vendor: str
    model: str
    source: str = Field(min_length=1)  # citation: manual, public driver code, ...
    confidence: Confidence
    byte_order: ByteOrder = ByteOrder.ABCD
    default_device_id: int | None = Field(None, ge=0, le=247)
    notes: str | None = None
    points: list[Point] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_points(self) -> Self:
        names = [p.name for p in self.points]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate point names: {', '.join(duplicates)}")
        return self

    def point(self, name: str) -> Point:
        """The point called `name` (KeyError if absent)."""
        return {point.name: point for point in self.points}[name]

    def value_spec(self, point: Point) -> ValueSpec:
        """The codec spec of one of this profile's points."""
        return point.value_spec(self.byte_order)


@dataclass(frozen=True, slots=True)
class PointValue:
    """A decoded point: value (None when invalid), HJ 212 flag, reason, and sample time."""

    value: float | None
    flag: str
    reason: str | None = None
    sample_time: datetime | None = None  # when the analyser took the sample, if it says


def decode_point(
    profile: Profile,
    point: Point,
    blocks: dict[str, list[int]],
    tz: tzinfo,
) -> PointValue:
    """Decode one point from its sliced register blocks.

    Args:
        profile: The profile the point belongs to (for the default byte order).
        point: The point.
        blocks: Words per part, as sliced by the planner: ``value`` and, when the point has
            them, ``status`` and ``sample_time``.
        tz: The site's time zone, for sample times kept in local wall-clock time.

    Returns:
        The value (None when invalid), its flag and the sample time. A fault in the value wins
        over the status flag; an unreadable sample time is reported as None with a reason.
    """
    order = point.order or profile.byte_order
    measured = measure(blocks["value"], point.value_spec(profile.byte_order))
    flag, reason = measured.flag, measured.reason
    if measured.value is not None and point.status is not None:
        flag = point.status.flag(blocks["status"], order)
        if flag != Flag.NORMAL.value:
            reason = f"status register says {flag}"
    sample_time = None
    if point.sample_time is not None:
        try:
            sample_time = decode_bcd_time(blocks["sample_time"], tz)
        except ValueError as exc:
            reason = reason or f"unreadable sample time: {exc}"
    return PointValue(measured.value, flag, reason, sample_time)


# --- loading ----------------------------------------------------------------------------------


def _describe(exc: ValidationError, data: dict[str, Any], origin: str) -> str:
    """Name the file, the point and the field of every validation error."""
    lines = [f"invalid Modbus profile {origin}:"]
    raw_points = data.get("points")
    points: list[Any] = raw_points if isinstance(raw_points, list) else []
    for error in exc.errors():
        loc = list(error["loc"])
        where = ".".join(str(part) for part in loc) or "(profile)"
        if len(loc) >= 2 and loc[0] == "points" and isinstance(loc[1], int):  # noqa: PLR2004
            index = loc[1]
            entry = points[index] if index < len(points) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            field = ".".join(str(part) for part in loc[2:]) or "(point)"
            where = f"point {name or f'#{index}'!s}, field {field}"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


def parse_profile(text: str, origin: str) -> Profile:
    """Parse and validate profile YAML; `origin` names the file in error messages.

    Raises:
        ConfigError: Bad YAML or an invalid profile; the message names file, point and field.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid Modbus profile {origin}: not YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"invalid Modbus profile {origin}: expected a mapping at the top")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, data, origin)) from exc


def shipped_profiles() -> list[str]:
    """Names of the profiles shipped inside the package."""
    folder = resources.files(_PACKAGE).joinpath(_FOLDER)
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    )


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a shipped profile by name (``"siemens-mag6000"``) or a profile file by path.

    Raises:
        ConfigError: No such profile, or the profile is invalid.
    """
    if isinstance(name_or_path, Path) or name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read Modbus profile {path}: {exc}") from exc
        return parse_profile(text, str(path))
    resource = resources.files(_PACKAGE).joinpath(_FOLDER).joinpath(f"{name_or_path}.yaml")
    if not resource.is_file():
        known = ", ".join(shipped_profiles())
        raise ConfigError(f"unknown Modbus profile {name_or_path!r}; shipped: {known}")
    profile = parse_profile(resource.read_text(encoding="utf-8"), f"{name_or_path}.yaml")
    if profile.name != name_or_path:
        raise ConfigError(f"profile file {name_or_path}.yaml declares name {profile.name!r}")
    return profile
