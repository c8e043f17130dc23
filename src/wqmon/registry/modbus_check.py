"""Checks of a registry file's Modbus buses and device bindings, one message per problem."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wqmon.errors import ConfigError
from wqmon.protocol.modbus.bindings import resolve_map
from wqmon.protocol.modbus.profiles import load_profile

if TYPE_CHECKING:
    from wqmon.registry.schema import ModbusDeviceSpec, PointSpec, RegistryFile


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
