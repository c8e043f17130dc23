"""Registry bindings of monitoring points to Modbus devices: checks and point maps.

A point's ``modbus:`` list names devices (bus, device id, profile); each device's profile points
feed the point's channels through a map from profile point name to parameter. Without an
explicit map, every profile point whose parameter the monitoring point measures is taken (the
first one per parameter, in profile order: the MAG 6000 flow but not its four totalisers when the
point has no totaliser channel).

Pure: no I/O beyond reading profile files. The registry schema calls `check_modbus` so a bad
binding fails `wqmon registry import` with a message that names its place in the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wqmon.drivers.modbus.profiles import Profile, load_profile
from wqmon.errors import ConfigError
from wqmon.parameters import lookup

if TYPE_CHECKING:
    from wqmon.registry.schema import ModbusDeviceSpec, PointSpec, RegistryFile


def resolve_map(
    profile: Profile, point_parameters: list[str], explicit: dict[str, str] | None
) -> dict[str, str]:
    """Profile point name → canonical parameter code, for one device bound to one point.

    Args:
        profile: The device's profile.
        point_parameters: The monitoring point's parameters (aliases or codes).
        explicit: The binding's ``map``, or None to match profile points by parameter.

    Raises:
        ValueError: An unknown profile point or parameter, a parameter the point does not
            measure, two profile points feeding one parameter, or nothing to poll at all.
    """
    measured = {p.code for p in (lookup(n) for n in point_parameters) if p is not None}
    result: dict[str, str] = {}
    if explicit is None:
        for profile_point in profile.points:
            param = lookup(profile_point.parameter)
            if param is not None and param.code in measured and param.code not in result.values():
                result[profile_point.name] = param.code
    else:
        names = {p.name for p in profile.points}
        for name, parameter in explicit.items():
            param = lookup(parameter)
            if name not in names:
                raise ValueError(f"profile {profile.name} has no point {name!r}")
            if param is None:
                raise ValueError(f"unknown parameter {parameter!r}")
            if param.code not in measured:
                raise ValueError(f"{name} → {parameter}: the point does not measure {parameter}")
            if param.code in result.values():
                raise ValueError(f"two profile points feed {parameter}")
            result[name] = param.code
    if not result:
        raise ValueError(f"no point of profile {profile.name} matches the point's parameters")
    return result


def _device_problems(
    device: ModbusDeviceSpec, point: PointSpec, buses: set[str], where: str
) -> tuple[list[str], dict[str, str]]:
    problems: list[str] = []
    if device.bus not in buses:
        problems.append(f"{where} → bus: unknown Modbus bus {device.bus!r}")
    try:
        profile = load_profile(device.profile)
    except ConfigError as exc:
        return [*problems, f"{where} → profile: {exc}"], {}
    try:
        mapping = resolve_map(profile, point.parameters, device.map)
    except ValueError as exc:
        return [*problems, f"{where} → map: {exc}"], {}
    return problems, mapping


def check_modbus(reg: RegistryFile) -> list[str]:
    """Problems with Modbus buses and bindings; one message per problem."""
    ids = [b.id for b in reg.modbus_buses]
    problems = [
        f"modbus_buses: id {bus!r} appears more than once"
        for bus in dict.fromkeys(b for i, b in enumerate(ids) if b in ids[:i])
    ]
    buses = set(ids)
    devices: dict[tuple[str, int], str] = {}
    for i, site in enumerate(reg.sites):
        for j, point in enumerate(site.points):
            fed: dict[str, str] = {}  # parameter code → the binding that feeds it
            for k, device in enumerate(point.modbus):
                where = f"sites[{i}] ({site.code}) → points[{j}] ({point.code}) → modbus[{k}]"
                found, mapping = _device_problems(device, point, buses, where)
                problems += found
                other = devices.setdefault((device.bus, device.device_id), where)
                if other != where:
                    problems.append(
                        f"{where}: device {device.device_id} on bus {device.bus!r} is already"
                        f" bound by {other}"
                    )
                for code in mapping.values():
                    if fed.setdefault(code, where) != where:
                        problems.append(f"{where} → map: {code} is already fed by {fed[code]}")
    return problems
