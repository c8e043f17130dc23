"""Registry bindings of monitoring points to Modbus devices: checks and point maps.

A point's ``modbus:`` list names devices (bus, device id, profile); each device's profile points
feed the point's channels through a map from profile point name to parameter. Without an
explicit map, every profile point whose parameter the monitoring point measures is taken (the
first one per parameter, in profile order: the MAG 6000 flow but not its four totalisers when the
point has no totaliser channel).

Pure: no I/O beyond reading profile files. `wqmon.registry.modbus_check` uses `resolve_map` so a
bad binding fails `wqmon registry import` with a message that names its place in the file.
"""

from __future__ import annotations

from wqmon.parameters import lookup
from wqmon.protocol.modbus.profiles import Profile


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
