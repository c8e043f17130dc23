"""Named scenarios: a registry file turned into a simulated field, with scripted episodes.

A scenario says which meters exist (from the registry: sites, points, parameters, limits), how
each point is reached (an HJ 212 logger for a point with an MN, a Modbus server for a point
bound to a bus, otherwise its site's gateway: even-numbered gateways publish over MQTT,
odd-numbered ones push over HTTP, so both paths are exercised), and what happens when.

- `city`: examples/registry.yaml with episodes placed around the start (the anchor) so the
  demo raises its alarms early: rain dilutes WWTP-03's influent for the last 30 hours (daily and
  rolling flow-weighted COD below 260 mg/L), WWTP-01's outlet COD is above its 50 mg/L limit
  from 3 hours before the start, and there are faults on purpose (a flag for calibration, a
  flat line, an offline gateway site, a skewed logger clock, resends, corrupted frames).
  Seeded rain episodes on the other plants make the history look lived in.
- `calm`: the same field with no episodes at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from wqmon.errors import ConfigError
from wqmon.parameters import lookup
from wqmon.registry.schema import PointSpec, RegistryFile, parse_registry
from wqmon.registry.schema import resolve_limits as registry_limits
from wqmon.simulators.field import (
    COD,
    NH3N,
    PH,
    Episode,
    EpisodeKind,
    FieldModel,
    MeterPoint,
    unit_noise,
)

EXAMPLE_REGISTRY = Path(__file__).resolve().parents[3] / "examples" / "registry.yaml"
E = EpisodeKind
SEEDED_RAIN_PER_DAY = 0.25  # chance of a rain episode on a plant on a given past day


@dataclass(frozen=True, slots=True)
class LoggerTarget:
    """An HJ 212 data logger: the MN and password of one monitoring point, and its edition.

    A 2025 logger with a `key` encrypts its data (SM4); the key is set in the platform's
    database by `wqmon simulate` / `wqmon demo` (`set_logger_keys`).
    """

    point: MeterPoint
    mn: str
    password: str
    edition: int = 2017
    key: bytes | None = field(default=None, repr=False)


def logger_edition(index: int, mn: str, seed: int) -> tuple[int, bytes | None]:
    """The field's mix: every second logger speaks HJ 212-2025, every other of those encrypts.

    The key is derived from the seed and the MN so the same field gets the same keys: fine for
    a simulator, forbidden for a real logger (the standard bans predictable keys).
    """
    if index % 2 == 0:
        return 2017, None
    if index % 4 == 3:  # noqa: PLR2004 - the plain 2025 quarter
        return 2025, None
    return 2025, hashlib.sha256(f"wqmon-simulator:{seed}:{mn}".encode()).digest()[:16]


@dataclass(frozen=True, slots=True)
class GatewayTarget:
    """An MQTT or HTTP gateway and the points it reports for."""

    id: str
    transport: str  # mqtt | http
    points: tuple[MeterPoint, ...]


@dataclass(frozen=True, slots=True)
class BusAddress:
    """Where a registry Modbus bus is reached (the simulator listens there)."""

    id: str
    transport: str  # tcp | rtu | rtu_over_tcp
    host: str | None
    port: int


@dataclass(frozen=True, slots=True)
class ModbusTarget:
    """One Modbus device bound to a monitoring point: profile point name → parameter code."""

    point: MeterPoint
    bus: BusAddress
    device_id: int
    profile: str
    mapping: dict[str, str] | None  # the binding's explicit map (profile point → parameter)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A field and how each of its points reaches wqmon."""

    name: str
    anchor: datetime
    field: FieldModel
    loggers: tuple[LoggerTarget, ...]
    gateways: tuple[GatewayTarget, ...]
    modbus: tuple[ModbusTarget, ...]


def _codes(names: list[str]) -> tuple[str, ...]:
    found = (lookup(name) for name in names)
    return tuple(p.code for p in found if p is not None)


def _limits(spec: PointSpec) -> dict[str, float]:
    result: dict[str, float] = {}
    for name, limit in registry_limits(spec).items():
        param = lookup(name)
        if param is not None and limit.max is not None:
            result[param.code] = limit.max
    return result


def meter_points(reg: RegistryFile, seed: int) -> list[MeterPoint]:
    """The registry's monitoring points with plausible mean flows for the seed."""
    points = []
    for site in reg.sites:
        for spec in site.points:
            key = f"{site.code}/{spec.code}"
            if site.kind == "wwtp" and site.capacity_m3_per_day:
                # Plants run at 75–95 % of their capacity.
                load = 0.75 + 0.2 * unit_noise(seed, key, "load")
                mean = site.capacity_m3_per_day / 24 * load
            else:  # an enterprise of 600–2,900 m³/d (the policy covers ≥ 500 t/d)
                mean = 25 + 95 * unit_noise(seed, site.code, "flow")
            points.append(
                MeterPoint(
                    site=site.code,
                    point=spec.code,
                    role=spec.role,
                    parameters=_codes(spec.parameters),
                    mean_flow_m3_h=mean,
                    limits=_limits(spec),
                    municipal=site.kind == "wwtp",
                    tz=ZoneInfo(site.timezone),
                )
            )
    return points


def _routes(
    reg: RegistryFile, points: dict[str, MeterPoint], seed: int = 1
) -> tuple[list[LoggerTarget], list[GatewayTarget], list[ModbusTarget]]:
    loggers: list[LoggerTarget] = []
    modbus: list[ModbusTarget] = []
    routed: set[str] = set()
    # getattr: Modbus buses and bindings are optional parts of the registry schema.
    buses = {
        bus.id: BusAddress(bus.id, bus.transport, bus.host, bus.port)
        for bus in getattr(reg, "modbus_buses", [])
    }
    for site in reg.sites:
        for spec in site.points:
            mp = points[f"{site.code}/{spec.code}"]
            if spec.hj212 is not None:
                edition, key = logger_edition(len(loggers), spec.hj212.mn, seed)
                loggers.append(LoggerTarget(mp, spec.hj212.mn, spec.hj212.password, edition, key))
                routed.add(mp.key)
            for device in getattr(spec, "modbus", []):
                bus = buses[device.bus]
                modbus.append(ModbusTarget(mp, bus, device.device_id, device.profile, device.map))
                routed.add(mp.key)
    gateways = []
    for index, gateway in enumerate(reg.gateways):
        mine = tuple(
            mp for mp in points.values() if mp.site in gateway.sites and mp.key not in routed
        )
        transport = "mqtt" if index % 2 == 0 else "http"
        gateways.append(GatewayTarget(gateway.id, transport, mine))
    return loggers, gateways, modbus


def city_episodes(anchor: datetime, seed: int, plants: list[str]) -> list[Episode]:
    """The scripted episodes of `city` around `anchor`, and seeded rain in the last week."""
    h = timedelta(hours=1)
    m = timedelta(minutes=1)
    scripted = [
        Episode(E.RAIN, "WWTP-03", anchor - 30 * h, anchor + 6 * h, factor=0.6),
        Episode(E.EXCEEDANCE, "WWTP-01", anchor - 3 * h, anchor + 3 * h, "outlet", COD, 1.25),
        Episode(E.FLAG, "WWTP-02", anchor - 26 * h, anchor - 25 * h, "inlet", COD, flag="C"),
        Episode(E.FLAG, "WWTP-04", anchor + 10 * m, anchor + 40 * m, "outlet", NH3N, flag="M"),
        Episode(E.FLAG, "ENT-05", anchor - 5 * h, anchor - 4 * h, None, COD, flag="D"),
        Episode(E.FLATLINE, "WWTP-04", anchor - 8 * h, anchor - 4 * h, "outlet", PH),
        Episode(E.OFFLINE, "ENT-02", anchor - 12 * h, anchor - 10 * h),
        Episode(E.OFFLINE, "WWTP-04", anchor + 20 * m, anchor + 25 * m, "inlet"),
        Episode(E.CLOCK_SKEW, "ENT-06", anchor - 48 * h, anchor + 48 * h, factor=90),
        Episode(E.RESEND, "WWTP-02", anchor - h, anchor + h, "outlet"),
        Episode(E.CORRUPT, "WWTP-03", anchor, anchor + 5 * m, "outlet"),
        Episode(E.CORRUPT, "ENT-01", anchor, anchor + 5 * m),
    ]
    seeded = []
    for plant in plants:
        if plant == "WWTP-03":
            continue
        for day in range(1, 8):
            if unit_noise(seed, plant, day, "rain") < SEEDED_RAIN_PER_DAY:
                start = anchor - day * 24 * h + unit_noise(seed, plant, day, "at") * 18 * h
                hours = 3 + 5 * unit_noise(seed, plant, day, "hours")
                factor = 0.55 + 0.2 * unit_noise(seed, plant, day, "factor")
                seeded.append(Episode(E.RAIN, plant, start, start + hours * h, factor=factor))
    return scripted + seeded


def build(name: str, *, seed: int, anchor: datetime, registry: Path = EXAMPLE_REGISTRY) -> Scenario:
    """The named scenario over a registry file (default: examples/registry.yaml)."""
    if name not in SCENARIOS:
        raise ConfigError(f"unknown scenario {name!r} (known: {', '.join(sorted(SCENARIOS))})")
    reg = parse_registry(registry.read_text(encoding="utf-8"), source=str(registry))
    points = {mp.key: mp for mp in meter_points(reg, seed)}
    plants = [site.code for site in reg.sites if site.kind == "wwtp"]
    episodes = SCENARIOS[name](anchor, seed, plants)
    loggers, gateways, modbus = _routes(reg, points, seed)
    return Scenario(
        name=name,
        anchor=anchor,
        field=FieldModel(seed, points.values(), episodes),
        loggers=tuple(loggers),
        gateways=tuple(gateways),
        modbus=tuple(modbus),
    )


SCENARIOS: dict[str, Callable[[datetime, int, list[str]], list[Episode]]] = {
    "city": city_episodes,
    "calm": lambda _anchor, _seed, _plants: [],
}
