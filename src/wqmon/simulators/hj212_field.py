"""Simulated HJ 212 data loggers of the field: one `LoggerSimulator` per point with an MN.

A logger uploads real-time data (2011, `-Rtd`, `-Flag`, `-SampleTime` for analysers) on its
interval, hourly data (2061) when an hour ends, serves the host's history pulls from the model,
and obeys the model's faults: offline (disconnects), clock skew (DataTime off), resends (the
same record twice) and corrupted frames (a bad CRC before the good frame). Flow goes in L/s,
as loggers send it (docs/field-facts.md §6).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from wqmon.errors import DeviceUnavailable
from wqmon.protocol.hj212 import builder
from wqmon.protocol.hj212.builder import CpObjects
from wqmon.simulators.clock import SimClock
from wqmon.simulators.field import ANALYSED, FLOW, FieldModel, MeterPoint, Sample
from wqmon.simulators.hj212_logger import LoggerSimulator
from wqmon.simulators.scenarios import LoggerTarget

log = logging.getLogger(__name__)
L_PER_S = 1 / 3.6  # m³/h → L/s
_STEP = timedelta(minutes=5)  # resolution of the model behind hourly statistics
MAX_HISTORY_HOURS = 72  # a history pull answers at most this many hourly records


def realtime_objects(
    samples: dict[str, Sample], mp: MeterPoint, clock: SimClock | None = None
) -> CpObjects:
    """CP objects of a 2011 upload: value, flag and, for analysers, the sample time."""
    objects: dict[str, dict[str, str | float]] = {}
    for code, sample in samples.items():
        value = sample.value * L_PER_S if code == FLOW else sample.value
        item: dict[str, str | float] = {"Rtd": round(value, 3), "Flag": sample.flag}
        if sample.sample_time is not None:
            taken = clock.wall(sample.sample_time) if clock else sample.sample_time
            item["SampleTime"] = builder.format_time(taken, mp.tz)
        objects[code] = item
    return objects


def hour_objects(model: FieldModel, mp: MeterPoint, start: datetime) -> CpObjects:
    """CP objects of a 2061 upload for the hour from `start`: Avg/Min/Max/Cou per parameter."""
    steps = int(timedelta(hours=1) / _STEP)
    moments = [start + _STEP * i for i in range(steps)]
    flows = [model.sample(mp, FLOW, t).value for t in moments]
    volume = sum(flows) / steps  # m³ in the hour (mean m³/h × 1 h)
    objects: dict[str, dict[str, str | float]] = {}
    for code in mp.parameters:
        samples = [model.sample(mp, code, t) for t in moments]
        values = [s.value for s in samples]
        avg = sum(values) / steps
        scale = L_PER_S if code == FLOW else 1.0
        item: dict[str, str | float] = {
            "Avg": round(avg * scale, 3),
            "Min": round(min(values) * scale, 3),
            "Max": round(max(values) * scale, 3),
            "Flag": samples[-1].flag,
        }
        if code == FLOW:
            item["Cou"] = round(volume, 2)
        elif code in ANALYSED:
            load = sum(v * f / steps for v, f in zip(values, flows, strict=True)) / 1000
            item["Cou"] = round(load, 3)
        objects[code] = item
    return objects


class FieldLogger:
    """One point's data logger, driven by the field model."""

    def __init__(
        self, target: LoggerTarget, model: FieldModel, host: str, port: int, clock: SimClock
    ) -> None:
        self.target = target
        self.model = model
        self.clock = clock
        mp = target.point
        self.logger = LoggerSimulator(
            host,
            port,
            mn=target.mn,
            pw=target.password,
            tz=mp.tz,
            ack_timeout_s=10.0,
            retries=2,
            history=self._history,
            edition=target.edition,
            key=target.key,
        )
        self.connected = False
        self.uploads = 0

    def _history(
        self, cn: str, begin: datetime, end: datetime
    ) -> Iterable[tuple[datetime, CpObjects]]:
        if cn != builder.CN_HOUR:
            return []
        hour = begin.replace(minute=0, second=0, microsecond=0)
        records: list[tuple[datetime, CpObjects]] = []
        while hour <= end and len(records) < MAX_HISTORY_HOURS:
            records.append((hour, hour_objects(self.model, self.target.point, hour)))
            hour += timedelta(hours=1)
        return records

    async def ensure_connected(self) -> bool:
        if not self.connected:
            try:
                await self.logger.connect()
            except DeviceUnavailable as exc:
                log.debug("logger %s: %s", self.target.mn, exc)
                return False
            self.connected = True
        return True

    async def disconnect(self) -> None:
        if self.connected:
            await self.logger.close()
            self.connected = False

    async def upload(self, wall: datetime, *, faults: bool = True) -> bool:
        """Send the model's real-time record for `wall`; False when offline or unreachable."""
        mp = self.target.point
        model_time = self.clock.model(wall)
        if self.model.offline(mp, model_time):
            await self.disconnect()
            return False
        if not await self.ensure_connected():
            return False
        objects = realtime_objects(self.model.snapshot(mp, model_time), mp, self.clock)
        data_time = wall + (self.model.clock_skew(mp, model_time) if faults else timedelta(0))
        try:
            if faults and self.model.corrupt(mp, model_time):
                await self.logger.send_upload(
                    builder.CN_REALTIME, data_time, objects, flag=4, corrupt_crc=True
                )
            await self.logger.send_realtime(data_time, objects)
            if faults and self.model.resend(mp, model_time):
                await self.logger.send_realtime(data_time, objects)
        except (DeviceUnavailable, OSError) as exc:
            log.info("logger %s lost its connection: %s", self.target.mn, exc)
            await self.disconnect()
            return False
        self.uploads += 1
        return True

    async def upload_hour(self, hour: datetime) -> None:
        """Send the hourly record (2061) of the hour starting at `hour` (wall time)."""
        mp = self.target.point
        if self.model.offline(mp, self.clock.model(hour)) or not await self.ensure_connected():
            return
        objects = hour_objects(self.model, mp, self.clock.model(hour))
        with contextlib.suppress(DeviceUnavailable, OSError):
            await self.logger.send_hour(hour, objects)

    async def run(self, interval_s: float) -> None:
        """Upload every `interval_s` of wall time, and each hour's record when it ends."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        last_hour = self.clock.now().replace(minute=0, second=0, microsecond=0)
        try:
            while True:
                wall = self.clock.now()
                await self.upload(wall)
                hour = wall.replace(minute=0, second=0, microsecond=0)
                if hour > last_hour:
                    await self.upload_hour(last_hour)
                    last_hour = hour
                next_tick += interval_s
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
        finally:
            await self.disconnect()
