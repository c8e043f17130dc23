"""The poll schedule of one device, and the state the API shows for it.

One poll: plan the profile's reads, read each through the bus hub, slice and decode, then decide
the readings (`readings.py`). The first request that fails ends the poll, so a dead device costs
the bus one timeout per poll, and after repeated failures it is polled less often
(`next_delay`). Logging follows Home Assistant's log-when-unavailable: a warning when a device
stops answering, debug while it stays silent, info when it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from wqmon.drivers.modbus.client import ModbusExceptionResponse
from wqmon.drivers.modbus.hub import BusHub
from wqmon.errors import DeviceUnavailable
from wqmon.model import RawReading
from wqmon.protocol.modbus.config import DeviceBinding
from wqmon.protocol.modbus.planner import group_by_point, plan_profile, slice_response
from wqmon.protocol.modbus.profiles import PointValue, Profile, decode_point
from wqmon.protocol.modbus.readings import (
    ChannelMemory,
    failure_readings,
    next_delay,
    poll_readings,
)

log = logging.getLogger(__name__)

Emit = Callable[["DeviceState", list[RawReading]], Awaitable[None]]


@dataclass(slots=True)
class DeviceState:
    """What is known about one polled device (`ModbusDriver.state[bus/device_id]`)."""

    binding: DeviceBinding
    polls: int = 0
    failures: int = 0
    consecutive_errors: int = 0
    last_poll: datetime | None = None
    last_good_poll: datetime | None = None
    last_error: str | None = None
    link_down_since: datetime | None = None  # first failed poll of the current outage
    emitted: int = 0  # readings handed to the pipeline
    stored: int = 0  # of those, committed as new rows
    rejected: int = 0  # refused by validation or the store
    last_rejection: str | None = None
    memory: dict[str, ChannelMemory] = field(default_factory=dict, repr=False)

    @property
    def available(self) -> bool:
        """Whether the last poll was answered."""
        return self.last_good_poll is not None and self.consecutive_errors == 0


class DevicePoller:
    """Polls one device on its schedule and hands its readings to `emit`."""

    def __init__(
        self, binding: DeviceBinding, profile: Profile, interval_s: float, state: DeviceState
    ) -> None:
        """Plan the device's reads once; `state` survives restarts of the poller."""
        self.binding = binding
        self.profile = profile
        self.interval_s = interval_s
        self.state = state
        self._names = [name for name, _code in binding.points]
        self._requests = plan_profile(profile, points=self._names)
        self._tz = ZoneInfo(binding.timezone)

    async def poll(self, hub: BusHub, now: datetime) -> list[RawReading]:
        """One poll; returns the readings to store (B readings carrying the last measured
        values when the device is silent; its link state is in `state`)."""
        state = self.state
        state.polls += 1
        state.last_poll = now
        try:
            decoded = await self._read(hub)
        except (DeviceUnavailable, ModbusExceptionResponse, ValueError) as exc:
            self._failed(exc)
            if isinstance(exc, ModbusExceptionResponse):
                return []  # the device answered "no": a profile problem, not a comms failure
            if state.link_down_since is None:
                state.link_down_since = now
            return failure_readings(self.binding, self.profile, now, state.memory)
        if state.consecutive_errors:
            log.info("Modbus device %s answers again", self.binding.key)
        state.consecutive_errors = 0
        state.last_error = None
        state.link_down_since = None
        state.last_good_poll = now
        return poll_readings(self.binding, self.profile, decoded, now, state.memory)

    async def _read(self, hub: BusHub) -> dict[str, PointValue]:
        sliced: dict[Hashable, list[int]] = {}
        for request in self._requests:
            words = await hub.read(
                request.register_type, request.address, request.count, self.binding.device_id
            )
            sliced.update(slice_response(request, [int(w) for w in words]))
        return {
            name: decode_point(self.profile, self.profile.point(name), blocks, self._tz)
            for name, blocks in group_by_point(sliced).items()
        }

    def _failed(self, exc: Exception) -> None:
        state = self.state
        state.failures += 1
        state.consecutive_errors += 1
        state.last_error = str(exc)
        first = state.consecutive_errors == 1
        level = logging.ERROR if isinstance(exc, ModbusExceptionResponse) else logging.WARNING
        log.log(level if first else logging.DEBUG, "Modbus device %s: %s", self.binding.key, exc)

    async def run(self, hub: BusHub, emit: Emit, clock: Callable[[], datetime]) -> None:
        """Poll forever: at the interval, or backing off while the device fails.

        `emit` gets the readings of every poll, possibly none, so it also learns of each poll.
        """
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                readings = await self.poll(hub, clock())
            except Exception:  # a bug must not end the schedule of a working meter
                log.exception("Modbus device %s: poll failed", self.binding.key)
                readings = []
            await emit(self.state, readings)  # blocks while the pipeline is full
            due = max(due + next_delay(self.interval_s, self.state.consecutive_errors), loop.time())
