"""One hub per Modbus bus: a lock, an inter-frame delay, and reconnect with backoff.

RS-485 allows one outstanding request per line, and a serial-to-Ethernet server or a TCP gateway
forwards to such a line, so every request on a bus goes through the hub's `asyncio.Lock` (FIFO,
so devices take turns) followed by `message_wait_s` of silence, as in Home Assistant's
``ModbusHub``. A request holds the lock for at most its timeout (times the retries), enforced by
a guard here as well as by pymodbus: a dead slave delays the others by that much and no more.

When the link itself is down (server unreachable, serial port gone), reads fail fast until the
next connection attempt is due; attempts back off with `wqmon.supervision.backoff` (capped full jitter) so a dead endpoint costs neither bus time nor a storm of connects.
"""

from __future__ import annotations

import asyncio

from wqmon.drivers.modbus.client import Endpoint, ModbusClient
from wqmon.errors import DeviceUnavailable
from wqmon.protocol.modbus.config import BusConfig, Transport
from wqmon.protocol.modbus.profiles import RegisterType
from wqmon.supervision import backoff


def endpoint_of(bus: BusConfig) -> Endpoint:
    """The client endpoint of a configured bus."""
    return Endpoint(
        transport=Transport(bus.transport),
        host=bus.host or "",
        port=bus.port,
        serial_port=bus.serial_port,
        baudrate=bus.baudrate,
        bytesize=bus.bytesize,
        parity=bus.parity,
        stopbits=bus.stopbits,
        timeout_s=bus.timeout_s,
        retries=bus.retries,
    )


def _reraise_cancellation() -> None:
    """Undo pymodbus turning our task's cancellation into an I/O error.

    pymodbus 3.11 catches `CancelledError` inside a request and raises ``ModbusIOException
    ("Request cancelled outside pymodbus")``; left alone, a cancelled poller would carry on.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class BusHub:
    """Serialised access to one bus; owns its `ModbusClient`."""

    def __init__(
        self, bus: BusConfig, *, reconnect_base_s: float = 0.5, reconnect_cap_s: float = 30.0
    ) -> None:
        """Create the hub; nothing connects until the first read."""
        self.bus = bus
        self.endpoint = endpoint_of(bus)
        self.link_error: str | None = None  # why the link is down, None while it is up
        self._client = ModbusClient(self.endpoint)
        self._lock = asyncio.Lock()
        self._base_s = reconnect_base_s
        self._cap_s = reconnect_cap_s
        self._link_failures = 0
        self._retry_at = 0.0
        # pymodbus enforces timeout × (1 + retries); the guard only catches a stuck transport.
        self._guard_s = bus.timeout_s * (bus.retries + 2)

    async def read(
        self, register_type: RegisterType, address: int, count: int, device_id: int
    ) -> list[int] | list[bool]:
        """One read under the bus lock, followed by the inter-frame delay.

        Raises:
            DeviceUnavailable: The link is down (or backing off), or the device did not answer.
            ModbusExceptionResponse: The device refused the request (a profile error).
        """
        async with self._lock:
            await self._ensure_link()
            try:
                async with asyncio.timeout(self._guard_s):
                    return await self._client.read(register_type, address, count, device_id)
            except TimeoutError as exc:
                raise DeviceUnavailable(
                    f"device {device_id}: no answer within {self._guard_s:.1f} s",
                    endpoint=self.endpoint.label,
                ) from exc
            except DeviceUnavailable:
                _reraise_cancellation()
                raise
            finally:
                if self.bus.message_wait_s:
                    await asyncio.sleep(self.bus.message_wait_s)

    async def _ensure_link(self) -> None:
        if self._client.connected:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._retry_at:
            wait = self._retry_at - loop.time()
            raise DeviceUnavailable(
                f"link down ({self.link_error}); next attempt in {wait:.1f} s",
                endpoint=self.endpoint.label,
            )
        try:
            async with asyncio.timeout(self._guard_s):
                await self._client.connect()
        except (DeviceUnavailable, TimeoutError) as exc:
            self._link_failures += 1
            delay = backoff(self._link_failures, base_s=self._base_s, cap_s=self._cap_s)
            self._retry_at = loop.time() + delay
            self.link_error = str(exc) or "connect timed out"
            raise DeviceUnavailable(self.link_error, endpoint=self.endpoint.label) from exc
        self._link_failures = 0
        self.link_error = None

    def close(self) -> None:
        """Drop the link."""
        self._client.close()
