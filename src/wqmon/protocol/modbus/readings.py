"""Which decoded values become readings: sample times, change detection, failure flags.

Pure: no I/O, no clock. The poller hands in what one poll decoded (or that it failed) and the
device's per-channel memory; these functions decide what to store.

- **Sample time.** A point with a sample-time register (the China unified analyser map) yields a
  reading only when the analyser reports a new sample, stamped with the sample time.
- **Change detection.** Otherwise, a value is stored when it, or its flag, differs from the last
  one stored for the channel, stamped with the poll time: COD analysers publish a new result only
  every 1–2 hours and repeating it would fake measurements. ``store_unchanged`` stores every poll;
  it is the default for flow and totalisers, whose steady value is still a measurement.
- **Failures.** A device that does not answer gets a ``B`` reading (HJ 212: communication failure
  between instrument and logger) per channel, at the poll time, subject to the same change rule:
  an analyser channel gets one ``B`` when the outage starts, a flow channel one per failed poll.
  ``B``, like ``D`` for a NaN or sentinel, is invalid data; the stored value is the channel's last
  measured one, and it never enters statistics. A channel with no measured value since start
  gets no reading at all: a value the meter never measured is not stored as one. The device's
  link state lives in its `DeviceState` and the `wqmon_modbus_device_up` gauge (ADR 0011).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wqmon.flags import Flag
from wqmon.model import RawReading
from wqmon.parameters import Kind, by_code
from wqmon.protocol.modbus.config import DeviceBinding
from wqmon.protocol.modbus.profiles import PointValue, Profile

# Kinds whose every poll is a measurement, even when the value repeats.
_SAMPLED_CONTINUOUSLY = frozenset({Kind.FLOW, Kind.TOTALISER})


@dataclass(slots=True)
class ChannelMemory:
    """What a device poller remembers about one channel between polls."""

    last_key: tuple[float | None, str] | None = None  # (value, flag) last stored
    last_value: float | None = None  # last good value, in the profile's unit
    last_sample: datetime | None = None  # last sample time stored


def stores_unchanged(binding: DeviceBinding, code: str) -> bool:
    """Whether an unchanged value is stored again: configured, or by parameter kind."""
    if binding.store_unchanged is not None:
        return binding.store_unchanged
    return by_code(code).kind in _SAMPLED_CONTINUOUSLY


def _changed(memory: ChannelMemory, key: tuple[float | None, str], every_poll: bool) -> bool:
    if not every_poll and memory.last_key == key:
        return False
    memory.last_key = key
    return True


def poll_readings(
    binding: DeviceBinding,
    profile: Profile,
    decoded: dict[str, PointValue],
    poll_time: datetime,
    memory: dict[str, ChannelMemory],
) -> list[RawReading]:
    """The readings one successful poll yields.

    Args:
        binding: The device binding (site, point, map, store_unchanged).
        profile: The device's profile, for units and which points carry a sample time.
        decoded: Decoded values by profile point name.
        poll_time: When the poll happened (aware, UTC).
        memory: Per parameter code, updated in place.
    """
    readings: list[RawReading] = []
    for name, code in binding.points:
        result = decoded.get(name)
        if result is None:
            continue
        mem = memory.setdefault(code, ChannelMemory())
        if result.value is not None:
            mem.last_value = result.value
        if profile.point(name).sample_time is not None and result.sample_time is not None:
            if result.sample_time == mem.last_sample:
                continue
            mem.last_sample, mem.last_key = result.sample_time, (result.value, result.flag)
            ts = result.sample_time
        elif _changed(mem, (result.value, result.flag), stores_unchanged(binding, code)):
            ts = poll_time
        else:
            continue
        value = result.value if result.value is not None else mem.last_value
        if value is None:
            continue  # a fault before any measured value: nothing was measured to store
        unit = profile.point(name).unit
        readings.append(RawReading(binding.site, binding.point, code, ts, value, unit, result.flag))
    return readings


def failure_readings(
    binding: DeviceBinding,
    profile: Profile,
    poll_time: datetime,
    memory: dict[str, ChannelMemory],
) -> list[RawReading]:
    """The ``B`` readings for a poll the device did not answer (none with on_failure: silent),
    for the channels with a measured value to carry."""
    if binding.on_failure != "flag_b":
        return []
    flag = Flag.COMMS_FAILURE.value
    readings: list[RawReading] = []
    for name, code in binding.points:
        mem = memory.setdefault(code, ChannelMemory())
        if mem.last_value is None:
            continue  # never measured: the outage is the device's state, not a reading
        if _changed(mem, (None, flag), stores_unchanged(binding, code)):
            unit = profile.point(name).unit
            readings.append(
                RawReading(binding.site, binding.point, code, poll_time, mem.last_value, unit, flag)
            )
    return readings


def next_delay(interval_s: float, consecutive_errors: int, max_factor: int = 8) -> float:
    """Seconds until the next poll: the interval, doubled per failure up to `max_factor` times.

    A dead device is still polled (it may come back), but less often, so its timeouts take
    less of the bus from the devices that answer.
    """
    if consecutive_errors <= 1:
        return interval_s
    return interval_s * min(1 << (consecutive_errors - 1), max_factor)
