"""Run a scenario's field against a wqmon: every protocol spoken for real, over loopback.

`FieldRunner` starts a Modbus server per simulated bus, connects an HJ 212 logger per point with
an MN and a gateway per registry gateway (MQTT when a broker is given, HTTP push otherwise),
optionally sends a backfill of history as fast as ingest takes it, then reports live until
cancelled (`wqmon simulate`, `wqmon demo`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wqmon.simulators.clock import SimClock
from wqmon.simulators.gateways import Gateway, HttpGateway, MqttGateway
from wqmon.simulators.hj212_field import FieldLogger
from wqmon.simulators.modbus_field import FieldModbusServer, modbus_servers
from wqmon.simulators.scenarios import GatewayTarget, Scenario

log = logging.getLogger(__name__)
BACKFILL_CHUNK = timedelta(hours=6)  # history per gateway body
MODBUS_REFRESH_S = 2.0


@dataclass(frozen=True, slots=True)
class Targets:
    """Where the simulated field sends: wqmon's listeners and credentials."""

    hj212_host: str = "127.0.0.1"
    hj212_port: int = 9212
    mqtt_url: str | None = None
    api_url: str | None = None
    gateway_tokens: Mapping[str, str] = field(default_factory=dict)  # gateway id → API key
    modbus: bool = True


def history_instants(end: datetime, days: float, step: timedelta) -> list[datetime]:
    """Instants on `step` boundaries from `end − days` up to (not including) `end`."""
    step_s = step.total_seconds()
    first = end - timedelta(days=days)
    moment = datetime.fromtimestamp(-(-first.timestamp() // step_s) * step_s, end.tzinfo)
    instants = []
    while moment < end:
        instants.append(moment)
        moment += step
    return instants


class FieldRunner:
    """A scenario's loggers, gateways and Modbus servers, driven by one clock."""

    def __init__(
        self,
        scenario: Scenario,
        targets: Targets,
        *,
        speed: float = 1.0,
        interval_s: float = 30.0,
        progress: Callable[[str], None] = log.info,
    ) -> None:
        self.scenario = scenario
        self.clock = SimClock(scenario.anchor, speed)
        self.interval_s = interval_s
        self.progress = progress
        model = scenario.field
        self.loggers = [
            FieldLogger(t, model, targets.hj212_host, targets.hj212_port, self.clock)
            for t in scenario.loggers
        ]
        self.gateways = [g for t in scenario.gateways if (g := self._gateway(t, targets))]
        self.modbus: list[FieldModbusServer] = (
            modbus_servers(scenario.modbus, model, self.clock) if targets.modbus else []
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._modbus_started = False

    def _gateway(self, target: GatewayTarget, targets: Targets) -> Gateway | None:
        model = self.scenario.field
        if not target.points:
            return None
        if target.transport == "mqtt" and targets.mqtt_url:
            return MqttGateway(target, model, self.clock, targets.mqtt_url)
        token = targets.gateway_tokens.get(target.id)
        if targets.api_url and token:
            return HttpGateway(target, model, self.clock, targets.api_url, token)
        log.warning("gateway %s: no broker and no API key, not simulated", target.id)
        return None

    async def start_modbus(self) -> None:
        """Start the Modbus servers (before wqmon polls them: `wqmon demo` calls this first)."""
        if self._modbus_started:
            return
        self._modbus_started = True
        for server in list(self.modbus):
            try:
                await server.start()
            except OSError as exc:
                log.warning("Modbus bus %s not simulated: %s", server.bus.id, exc)
                self.modbus.remove(server)

    async def start(self) -> None:
        """Start the Modbus servers (unless started already) and connect the MQTT gateways."""
        await self.start_modbus()
        for gateway in self.gateways:
            await gateway.start()

    async def backfill(self, days: float, step: timedelta = timedelta(minutes=10)) -> int:
        """Send `days` of history up to the start at full speed; returns uploads sent."""
        walls = history_instants(self.scenario.anchor, days, step)
        if not walls:
            return 0
        jobs = [self._backfill_logger(logger, walls) for logger in self.loggers]
        jobs += [self._backfill_gateway(gateway, walls) for gateway in self.gateways]
        counts = await asyncio.gather(*jobs)
        return sum(counts)

    async def _backfill_logger(self, logger: FieldLogger, walls: list[datetime]) -> int:
        sent = 0
        for wall in walls:
            sent += await self._upload_until_acked(logger, wall)
            if wall.minute == 0 and wall > walls[0]:
                await logger.upload_hour(wall - timedelta(hours=1))
        return sent

    @staticmethod
    async def _upload_until_acked(logger: FieldLogger, wall: datetime, attempts: int = 5) -> bool:
        """A logger resends history until it is answered (unless the model has it offline):
        a busy server or a dropped connection must not leave holes in the backfill."""
        for attempt in range(attempts):
            if await logger.upload(wall, faults=False):
                return True
            if logger.model.offline(logger.target.point, logger.clock.model(wall)):
                return False
            await asyncio.sleep(0.2 * (attempt + 1))
        return False

    async def _backfill_gateway(self, gateway: Gateway, walls: list[datetime]) -> int:
        chunk: list[datetime] = []
        for wall in walls:
            chunk.append(wall)
            if wall - chunk[0] >= BACKFILL_CHUNK:
                await gateway.report_many(chunk, faults=False)
                chunk = []
        if chunk:
            await gateway.report_many(chunk, faults=False)
        return gateway.sent

    def run(self) -> None:
        """Start the live loops as tasks (`stop()` ends them)."""
        interval = self.interval_s / self.clock.speed
        for logger in self.loggers:
            self._spawn(logger.run(interval), f"sim:hj212:{logger.target.mn}")
        for gateway in self.gateways:
            self._spawn(gateway.run(interval), f"sim:gateway:{gateway.target.id}")
        for server in self.modbus:
            self._spawn(self._refresh(server), f"sim:modbus:{server.bus.id}")

    async def _refresh(self, server: FieldModbusServer) -> None:
        while True:
            server.refresh(self.clock.now())
            await asyncio.sleep(MODBUS_REFRESH_S)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def stop(self) -> None:
        """Cancel the live loops, disconnect everything and stop the servers."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for logger in self.loggers:
            await logger.disconnect()
        for gateway in self.gateways:
            await gateway.stop()
        for server in self.modbus:
            with contextlib.suppress(Exception):
                await server.stop()

    def summary(self) -> str:
        """One line: what the field is and where it sends."""
        kinds = {"mqtt": 0, "http": 0}
        for gateway in self.gateways:
            kinds["mqtt" if isinstance(gateway, MqttGateway) else "http"] += 1
        targets = [logger.target for logger in self.loggers]
        new = sum(1 for t in targets if t.edition == 2025)  # noqa: PLR2004
        encrypted = sum(1 for t in targets if t.key is not None)
        return (
            f"{len(self.loggers)} HJ 212 loggers ({len(targets) - new} HJ 212-2017, {new} HJ"
            f" 212-2025 of which {encrypted} SM4-encrypted), {kinds['mqtt']} MQTT and {kinds['http']} HTTP "
            f"gateways, {len(self.modbus)} Modbus servers"
        )
