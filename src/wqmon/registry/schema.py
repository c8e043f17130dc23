"""The registry file (YAML, docs/contracts.md §1), validated with errors that name the entry and field.

Unknown keys are errors. Cross-references (region parents, site regions, gateway sites, limit
parameters, unique MNs, Modbus buses, profiles and their point maps) are checked after the shape, so every message points at one place in the
file, e.g. `sites[2] (ENT-07) → points[0] (outfall) → limits: unknown preset 'gb9999'`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from wqmon.errors import ConfigError
from wqmon.parameters import lookup
from wqmon.registry.modbus_check import check_modbus
from wqmon.registry.presets import PRESETS, Limit

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class YearFigures(_Strict):
    """Per-year accounting inputs of a region."""

    urban_population: int = Field(ge=0)
    cod_g_per_person_day: float = Field(70.0, gt=0, le=500)
    other_cod_kg_per_day: float = Field(0.0, ge=0)


class RegionSpec(_Strict):
    code: Code
    name: str
    kind: Literal["county", "park", "city", "province"]
    parent: str | None = None
    years: dict[int, YearFigures] = Field(default_factory=dict)


class Hj212Spec(_Strict):
    """How a point's data logger identifies itself over HJ 212."""

    mn: str = Field(min_length=1, max_length=64)
    password: str = Field(max_length=64)
    accept_modbus_crc: bool = False  # some loggers send CRC-16/MODBUS low byte first
    codes: dict[str, str] = Field(default_factory=dict)  # vendor or e-code → parameter
    # HJ 212-2025: refuse plain data packets from this logger (SM4 required over the Internet).
    require_encryption: bool = False


class LimitRange(_Strict):
    max: float | None = None
    min: float | None = None


LimitValue = float | LimitRange


class ModbusBusSpec(_Strict):
    """One Modbus line or endpoint that wqmon polls (docs/modbus.md, "Registry binding")."""

    id: Code
    name: str | None = None
    transport: Literal["tcp", "rtu", "rtu_over_tcp"] = "tcp"
    host: str | None = None  # tcp, rtu_over_tcp
    port: int = Field(502, ge=1, le=65535)
    serial_port: str | None = None  # rtu: /dev/ttyUSB0, /dev/ttyS1 ...
    baudrate: int = Field(9600, gt=0)
    bytesize: Literal[7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    timeout_s: float = Field(1.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=5)
    # Pause after every transaction; RS-485 devices need turnaround time (HA defaults to 30 ms).
    message_wait_ms: int | None = Field(None, ge=0, le=5000)  # None: 30 on serial lines, 0 on tcp
    poll_interval_s: float = Field(10.0, gt=0, le=86400)

    @model_validator(mode="after")
    def _endpoint_given(self) -> Self:
        if self.transport == "rtu" and not self.serial_port:
            raise ValueError("transport rtu needs serial_port")
        if self.transport != "rtu" and not self.host:
            raise ValueError(f"transport {self.transport} needs host")
        return self

    @property
    def message_wait_s(self) -> float:
        """The inter-frame delay in seconds, with the per-transport default."""
        if self.message_wait_ms is not None:
            return self.message_wait_ms / 1000
        return 0.0 if self.transport == "tcp" else 0.03


class ModbusDeviceSpec(_Strict):
    """A device on a bus whose profile points feed this monitoring point's channels."""

    bus: str
    device_id: int = Field(ge=0, le=247)
    profile: str = Field(min_length=1)  # shipped profile name, or a path to a YAML file
    poll_interval_s: float | None = Field(None, gt=0, le=86400)  # None: the bus's interval
    # profile point name → parameter; None: every profile point whose parameter the point has.
    map: dict[str, str] | None = None
    # None: store every poll of flow and totaliser points, only changes of analyser values.
    store_unchanged: bool | None = None
    on_failure: Literal["flag_b", "silent"] = "flag_b"


class PointSpec(_Strict):
    code: Code
    name: str | None = None
    role: Literal["inlet", "outlet", "discharge"]
    discharges_to: Literal["sewer", "river", "sea", "other"] | None = None
    parameters: list[str] = Field(min_length=1)
    limits: str | dict[str, LimitValue | str] | None = None
    hj212: Hj212Spec | None = None
    modbus: list[ModbusDeviceSpec] = Field(default_factory=list)

    @field_validator("parameters")
    @classmethod
    def _known_parameters(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if lookup(n) is None]
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(map(repr, unknown))}")
        return names


class SiteSpec(_Strict):
    code: Code
    name: str | None = None
    kind: Literal["wwtp", "enterprise"]
    region: str
    capacity_m3_per_day: float | None = Field(None, gt=0)
    timezone: str = "Asia/Shanghai"
    # Pollutant discharge permit class (排污许可分类管理): key, simplified or registration.
    permit: Literal["key", "simplified", "registration"] | None = None
    # Parameters the permit asks to be monitored online at the outlet / discharge point.
    permit_parameters: list[str] = Field(default_factory=list)
    points: list[PointSpec] = Field(default_factory=list)

    @field_validator("permit_parameters")
    @classmethod
    def _known_permit_parameters(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if lookup(n) is None]
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(map(repr, unknown))}")
        return names

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc
        return name


class GatewaySpec(_Strict):
    id: Code
    name: str | None = None
    sites: list[str] = Field(default_factory=list)


class RegistryFile(_Strict):
    regions: list[RegionSpec] = Field(default_factory=list)
    sites: list[SiteSpec] = Field(default_factory=list)
    gateways: list[GatewaySpec] = Field(default_factory=list)
    modbus_buses: list[ModbusBusSpec] = Field(default_factory=list)


def resolve_limits(point: PointSpec) -> dict[str, Limit]:
    """Limits per canonical parameter code: a preset, a mapping, or a preset plus overrides."""
    spec = point.limits
    if spec is None:
        return {}
    if isinstance(spec, str):
        spec = {"preset": spec}
    result: dict[str, Limit] = {}
    preset = spec.get("preset")
    if preset is not None:
        if not isinstance(preset, str) or preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r} (known: {', '.join(sorted(PRESETS))})")
        wanted = {p.code for p in (lookup(n) for n in point.parameters) if p}
        for alias, limit in PRESETS[preset].items():
            param = lookup(alias)
            if param is not None and param.code in wanted:
                result[param.code] = limit
    for name, value in spec.items():
        if name == "preset":
            continue
        param = lookup(name)
        if param is None:
            raise ValueError(f"unknown parameter {name!r}")
        if param.code not in {p.code for p in (lookup(n) for n in point.parameters) if p}:
            raise ValueError(f"a limit for {name!r}, which the point does not measure")
        if isinstance(value, str):
            raise ValueError(f"limit for {name!r} must be a number or {{min, max}}")  # noqa: TRY004 - pydantic wants ValueError
        result[param.code] = (
            Limit(value, None) if isinstance(value, float | int) else Limit(value.max, value.min)
        )
    return result


def _where(data: object, loc: tuple[int | str, ...]) -> str:
    """`sites[2] (ENT-07) → points[0] (outfall) → limits` for a pydantic error location."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int) and parts:
            label = f"{parts.pop()}[{key}]"
            node = node[key] if isinstance(node, list) and key < len(node) else None
            code = node.get("code") or node.get("id") if isinstance(node, dict) else None
            parts.append(f"{label} ({code})" if code else label)
        else:
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return " → ".join(parts) or "(top level)"


def parse_registry(text: str, *, source: str = "registry") -> RegistryFile:
    """Parse and validate registry YAML; raises ConfigError listing every problem found."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    try:
        registry = RegistryFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"{_where(data, tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{source}: invalid registry:\n  " + "\n  ".join(lines)) from exc
    problems = cross_check(registry)
    if problems:
        raise ConfigError(f"{source}: invalid registry:\n  " + "\n  ".join(problems))
    return registry


def cross_check(reg: RegistryFile) -> list[str]:
    """References between entries, uniqueness and limits; one message per problem."""
    problems: list[str] = []
    regions = {r.code for r in reg.regions}
    problems += _duplicates("regions", [r.code for r in reg.regions])
    problems += _duplicates("sites", [s.code for s in reg.sites])
    problems += _duplicates("gateways", [g.id for g in reg.gateways])
    for i, r in enumerate(reg.regions):
        if r.parent is not None and r.parent not in regions:
            problems.append(f"regions[{i}] ({r.code}) → parent: unknown region {r.parent!r}")
    sites = {s.code for s in reg.sites}
    mns: dict[str, str] = {}
    for i, s in enumerate(reg.sites):
        where = f"sites[{i}] ({s.code})"
        if s.region not in regions:
            problems.append(f"{where} → region: unknown region {s.region!r}")
        problems += _duplicates(f"{where} → points", [p.code for p in s.points])
        for j, p in enumerate(s.points):
            pwhere = f"{where} → points[{j}] ({p.code})"
            try:
                resolve_limits(p)
            except ValueError as exc:
                problems.append(f"{pwhere} → limits: {exc}")
            if p.hj212 is not None:
                other = mns.setdefault(p.hj212.mn, pwhere)
                if other != pwhere:
                    problems.append(
                        f"{pwhere} → hj212 → mn: {p.hj212.mn!r} is already used by {other}"
                    )
                for code, name in p.hj212.codes.items():
                    if lookup(name) is None:
                        problems.append(
                            f"{pwhere} → hj212 → codes → {code}: unknown parameter {name!r}"
                        )
    problems += check_modbus(reg)
    for i, g in enumerate(reg.gateways):
        problems += [
            f"gateways[{i}] ({g.id}) → sites: unknown site {code!r}"
            for code in g.sites
            if code not in sites
        ]
    return problems


def _duplicates(where: str, codes: list[str]) -> list[str]:
    seen: set[str] = set()
    dups = [c for c in codes if c in seen or seen.add(c)]  # type: ignore[func-returns-value]
    return [f"{where}: code {c!r} appears more than once" for c in dict.fromkeys(dups)]
