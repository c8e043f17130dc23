"""The Modbus polling driver: buses and devices from the registry, readings into the pipeline.

The driver takes the Modbus part of the newest registry snapshot (`ctx.directory().modbus`),
builds one `BusHub` per bus and one `DevicePoller` task per bound device, and watches for
registry reloads: when the buses or bindings change, it stops the pollers and starts them again
from the new snapshot, keeping the state (and change-detection memory) of unchanged devices.
Without bindings it idles until some appear, so `wqmon ingest` can always run it.

Each poll becomes one envelope (`source="modbus"`, peer ``modbus:{bus}/{device_id}``). `put()`
blocks while the pipeline is full, which delays that device's next poll: backpressure reaches
the meters. Polled data needs no acknowledgement, so the poller does not wait for the commit; a
callback counts what was stored or refused in the device's state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from functools import partial

from wqmon.drivers.modbus.config import ModbusDriverConfig
from wqmon.drivers.modbus.hub import BusHub
from wqmon.drivers.modbus.poller import DevicePoller, DeviceState
from wqmon.errors import ConfigError
from wqmon.ingest.contract import DriverContext
from wqmon.ingest.envelope import Envelope, Outcome
from wqmon.model import RawReading, Source
from wqmon.protocol.modbus.config import DeviceBinding, ModbusConfig
from wqmon.protocol.modbus.profiles import load_profile
from wqmon.settings import Settings
from wqmon.supervision import start_supervised

log = logging.getLogger(__name__)


class ModbusDriver:
    """Polls every Modbus device bound in the registry."""

    name = "modbus"

    def __init__(self, config: ModbusDriverConfig) -> None:
        self.config = config
        self.state: dict[str, DeviceState] = {}  # by `bus/device_id`, for the API
        self.hubs: dict[str, BusHub] = {}  # by bus id, while running
        self._tick = asyncio.Event()

    async def run(self, ctx: DriverContext) -> None:
        """Poll until cancelled, restarting the pollers whenever the bindings change."""
        while True:
            config = ctx.directory().modbus
            tasks = self._start(config, ctx)
            try:
                while ctx.directory().modbus == config:  # noqa: ASYNC110 - no reload event to await
                    await asyncio.sleep(self.config.reload_check_s)
            finally:
                await self._stop(tasks)
            log.info("Modbus bindings changed: restarting the pollers")

    async def wait_for(self, predicate: Callable[[Mapping[str, DeviceState]], bool]) -> None:
        """Wait until `predicate(state)` holds; re-checked after every poll and every commit."""
        while True:
            tick = self._tick
            if predicate(self.state):
                return
            await tick.wait()

    def _start(self, config: ModbusConfig, ctx: DriverContext) -> list[asyncio.Task[None]]:
        self.hubs = {bus_id: BusHub(bus) for bus_id, bus in config.buses.items()}
        pollers = [p for p in (self._poller(b, config) for b in config.devices) if p is not None]
        # Forget devices no longer bound; keep the memory of those that still are.
        self.state = {p.binding.key: p.state for p in pollers}

        async def emit(state: DeviceState, readings: list[RawReading]) -> None:
            await self._emit(ctx, state, readings)

        if pollers:
            log.info("Modbus: polling %d devices on %d buses", len(pollers), len(self.hubs))
        # Supervised: a poller that dies (say, in `emit`) is logged and restarted.
        return [
            start_supervised(
                f"driver:modbus:{poller.binding.key}",
                partial(poller.run, self.hubs[poller.binding.bus], emit, ctx.clock),
            )
            for poller in pollers
        ]

    def _poller(self, binding: DeviceBinding, config: ModbusConfig) -> DevicePoller | None:
        try:
            profile = load_profile(binding.profile)
        except ConfigError as exc:
            log.error("Modbus device %s not polled: %s", binding.key, exc)  # noqa: TRY400
            return None
        state = self.state.get(binding.key)
        if state is None or state.binding != binding:
            state = DeviceState(binding)
        interval = binding.poll_interval_s or config.buses[binding.bus].poll_interval_s
        return DevicePoller(binding, profile, interval, state)

    async def _stop(self, tasks: list[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for hub in self.hubs.values():
            hub.close()
        self.hubs = {}

    async def _emit(
        self, ctx: DriverContext, state: DeviceState, readings: list[RawReading]
    ) -> None:
        """Called after every poll: count it, and hand its readings (if any) to the sink."""
        metrics, device = ctx.telemetry.modbus, state.binding.key
        metrics.polls.labels(self.name, device).inc()
        if state.consecutive_errors:  # a poll that is answered resets it to 0
            metrics.failures.labels(self.name, device).inc()
        metrics.up.labels(self.name, device).set(0 if state.link_down_since else 1)
        if readings:
            state.emitted += len(readings)
            peer = f"modbus:{state.binding.key}"
            done = await ctx.sink.put(Envelope(Source.MODBUS.value, peer, readings))
            done.add_done_callback(lambda future: self._settled(state, future))
        self._notify()

    def _settled(self, state: DeviceState, future: asyncio.Future[Outcome]) -> None:
        if not future.cancelled() and future.exception() is None:
            outcome = future.result()
            state.stored += outcome.stored
            state.rejected += len(outcome.rejected)
            if outcome.rejected:
                state.last_rejection = outcome.rejected[-1].detail
                log.debug("Modbus device %s: %s", state.binding.key, state.last_rejection)
        self._notify()

    def _notify(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()


def snapshot(driver: ModbusDriver) -> dict[str, dict[str, object]]:
    """The driver's device state as plain data (for the API and `wqmon` status output)."""
    return {
        key: {
            "site": s.binding.site,
            "point": s.binding.point,
            "profile": s.binding.profile,
            "available": s.available,
            "polls": s.polls,
            "failures": s.failures,
            "consecutive_errors": s.consecutive_errors,
            "last_poll": s.last_poll,
            "last_good_poll": s.last_good_poll,
            "last_error": s.last_error,
            "link_down_since": s.link_down_since,
            "stored": s.stored,
            "rejected": s.rejected,
        }
        for key, s in driver.state.items()
    }


def from_settings(settings: Settings) -> ModbusDriver:
    """The driver `wqmon ingest` runs (registered in `wqmon.services.drivers`)."""
    return ModbusDriver(ModbusDriverConfig.from_settings(settings))
