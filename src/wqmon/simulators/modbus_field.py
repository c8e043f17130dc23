"""Simulated Modbus meters of the field: one server per registry bus, one device per binding.

Each server listens where the registry says the bus is (host and port of a TCP or RTU-over-TCP
line) and serves each bound device's profile registers, refreshed from the model on every tick:
values in the profile's unit, the analyser's sample time and its status flag where the profile
has them. Serial (RTU) buses are not simulated here (they need a real or virtual line).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from wqmon.parameters import by_code, conversion_factor, lookup
from wqmon.protocol.modbus.config import Transport
from wqmon.protocol.modbus.profiles import Profile, load_profile
from wqmon.simulators.clock import SimClock
from wqmon.simulators.field import FieldModel, Sample
from wqmon.simulators.modbus_meter import ModbusMeterSimulator, SimulatedDevice
from wqmon.simulators.scenarios import ModbusTarget

log = logging.getLogger(__name__)
_TRANSPORTS = {"tcp": Transport.TCP, "rtu_over_tcp": Transport.RTU_OVER_TCP}


def device_mapping(profile: Profile, target: ModbusTarget) -> dict[str, str]:
    """Profile point name → parameter code: the binding's map, or points matched by parameter."""
    if target.mapping is not None:
        result = {}
        for name, parameter in target.mapping.items():
            param = lookup(parameter)
            if param is not None:
                result[name] = param.code
        return result
    result = {}
    for point in profile.points:
        param = lookup(point.parameter)
        if param and param.code in target.point.parameters and param.code not in result.values():
            result[point.name] = param.code
    return result


class FieldModbusServer:
    """One simulated bus: a pymodbus server and the devices bound to it."""

    def __init__(self, targets: list[ModbusTarget], model: FieldModel, clock: SimClock) -> None:
        bus = targets[0].bus
        self.bus = bus
        self.model = model
        self.clock = clock
        self.bindings: list[tuple[SimulatedDevice, ModbusTarget, dict[str, str]]] = []
        for target in targets:
            profile = load_profile(target.profile)
            device = SimulatedDevice(profile, target.device_id, tz=target.point.tz)
            self.bindings.append((device, target, device_mapping(profile, target)))
        self.server = ModbusMeterSimulator(
            [device for device, _, _ in self.bindings],
            transport=_TRANSPORTS[bus.transport],
            host=bus.host or "127.0.0.1",
            port=bus.port,
        )

    async def start(self) -> None:
        self.refresh(self.clock.now())
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    def refresh(self, wall: datetime) -> None:
        """Serve the model's values at `wall` (offline devices keep their last registers)."""
        model_time = self.clock.model(wall)
        for device, target, mapping in self.bindings:
            if self.model.offline(target.point, model_time):
                continue
            for name, code in mapping.items():
                self._serve(device, name, code, self.model.sample(target.point, code, model_time))

    def _serve(self, device: SimulatedDevice, name: str, code: str, sample: Sample) -> None:
        point = device.profile.point(name)
        factor = conversion_factor(by_code(code), point.unit)
        device.set_value(name, sample.value / factor)
        if point.sample_time is not None and sample.sample_time is not None:
            device.set_sample_time(name, self.clock.wall(sample.sample_time))
        status = point.status
        if status is None:
            return
        if status.encoding == "ascii":
            device.set_status(name, sample.flag)
            return
        raw = next((k for k, flag in status.map.items() if flag == sample.flag), None)
        if raw is not None and raw.isdigit():
            device.set_status(name, int(raw))


def modbus_servers(
    targets: tuple[ModbusTarget, ...], model: FieldModel, clock: SimClock
) -> list[FieldModbusServer]:
    """One server per simulated bus (serial-only buses are skipped with a log line)."""
    by_bus: dict[str, list[ModbusTarget]] = defaultdict(list)
    for target in targets:
        if target.bus.transport not in _TRANSPORTS:
            log.warning("bus %s: %s lines are not simulated", target.bus.id, target.bus.transport)
            continue
        by_bus[target.bus.id].append(target)
    return [FieldModbusServer(group, model, clock) for group in by_bus.values()]
