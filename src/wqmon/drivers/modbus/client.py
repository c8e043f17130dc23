"""The one adapter around pymodbus's async clients; nothing else in wqmon imports pymodbus.

pymodbus breaks its API in minor releases (``slave=`` became ``device_id=`` in 3.10), so every
call lives here, against the pinned ``pymodbus~=3.11.0``. The adapter speaks wqmon's vocabulary:
register types from the profiles, `DeviceUnavailable` for anything that looks like a dead link
or a silent device, and `ModbusExceptionResponse` when a device answers "no".

Reconnection is explicit: pymodbus's background reconnect task is switched off and `read`
reconnects on demand, once per call. Backoff between failed polls belongs to the polling hub,
which knows the schedule and the other devices on the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType

from wqmon.errors import DeviceUnavailable, PermanentError
from wqmon.protocol.modbus.config import Transport
from wqmon.protocol.modbus.planner import read_limit
from wqmon.protocol.modbus.profiles import RegisterType

# Exception codes meaning "this device (or the path to it) is not there right now".
_TRANSIENT_CODES = {
    0x04: "server device failure",
    0x05: "acknowledge (busy with a long command)",
    0x06: "server device busy",
    0x0A: "gateway path unavailable",
    0x0B: "gateway target device failed to respond",
}
_PERMANENT_CODES = {
    0x01: "illegal function",
    0x02: "illegal data address",
    0x03: "illegal data value",
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to talk to a bus.

    Attributes:
        transport: TCP, RTU on a serial port, or RTU over TCP.
        host: Host for the TCP transports.
        port: TCP port for the TCP transports.
        serial_port: Device path for RTU, e.g. ``/dev/ttyUSB0`` or a pseudo-terminal.
        baudrate: Serial speed; the framing is `bytesize` `parity` `stopbits` (8N1 by default).
        timeout_s: Seconds to wait for a connection or for one answer.
        retries: Extra attempts per request after a timeout (0 = one attempt only).
        max_silent_requests: Consecutive unanswered requests after which pymodbus drops the
            link; the next `read` then reconnects.
    """

    transport: Transport = Transport.TCP
    host: str = "127.0.0.1"
    port: int = 502
    serial_port: str | None = None
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    timeout_s: float = 1.0
    retries: int = 0
    max_silent_requests: int = 3

    @property
    def label(self) -> str:
        """A short name for logs and errors: ``tcp://host:port`` or ``rtu:/dev/ttyUSB0``."""
        if self.transport is Transport.RTU:
            return f"rtu:{self.serial_port}"
        return f"{self.transport.value}://{self.host}:{self.port}"


class ModbusExceptionResponse(PermanentError):
    """The device answered with a Modbus exception that retrying will not fix.

    Usually a profile error: a wrong function, address or count for this device.
    """

    def __init__(self, *, endpoint: str, device_id: int, function_code: int, code: int) -> None:
        meaning = _PERMANENT_CODES.get(code, "unknown exception")
        super().__init__(
            f"{endpoint}: device {device_id} answered function {function_code} with exception"
            f" {code:#04x} ({meaning})"
        )
        self.endpoint = endpoint
        self.device_id = device_id
        self.function_code = function_code
        self.code = code


def _build(endpoint: Endpoint) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
    common: dict[str, Any] = {
        "timeout": endpoint.timeout_s,
        "retries": endpoint.retries,
        "reconnect_delay": 0,  # no background reconnect task: `read` reconnects on demand
    }
    if endpoint.transport is Transport.RTU:
        if not endpoint.serial_port:
            raise ValueError("an RTU endpoint needs serial_port")
        return AsyncModbusSerialClient(
            endpoint.serial_port,
            framer=FramerType.RTU,
            baudrate=endpoint.baudrate,
            bytesize=endpoint.bytesize,
            parity=endpoint.parity,
            stopbits=endpoint.stopbits,
            **common,
        )
    framer = FramerType.RTU if endpoint.transport is Transport.RTU_OVER_TCP else FramerType.SOCKET
    return AsyncModbusTcpClient(endpoint.host, port=endpoint.port, framer=framer, **common)


class ModbusClient:
    """An async Modbus master for one endpoint (one TCP server, one serial line).

    Not safe for concurrent requests on a serial line by itself: the polling hub serialises
    calls with its lock. Use as ``async with ModbusClient(endpoint) as client:``.
    """

    def __init__(self, endpoint: Endpoint) -> None:
        """Create the client; no I/O happens until `connect` or the first `read`."""
        self.endpoint = endpoint
        self._client = _build(endpoint)
        self._client.set_max_no_responses(endpoint.max_silent_requests)

    @property
    def connected(self) -> bool:
        """Whether the link is up (a serial port open, a TCP connection established)."""
        return bool(self._client.connected)

    async def connect(self) -> None:
        """Open the link.

        Raises:
            DeviceUnavailable: The server or port cannot be reached within the timeout.
        """
        try:
            ok = await self._client.connect()
        except (ModbusException, OSError) as exc:
            raise DeviceUnavailable(f"cannot connect: {exc}", endpoint=self.endpoint.label) from exc
        if not ok:
            raise DeviceUnavailable("cannot connect", endpoint=self.endpoint.label)

    def close(self) -> None:
        """Close the link; a later `read` reconnects."""
        self._client.close()

    async def __aenter__(self) -> Self:
        """Connect and return the client."""
        await self.connect()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        """Close the link."""
        self.close()

    async def read(
        self, register_type: RegisterType, address: int, count: int, device_id: int
    ) -> list[int] | list[bool]:
        """Read `count` registers (or bits) from `address` of one device.

        Args:
            register_type: holding (FC 03), input (FC 04), coil (FC 01) or discrete (FC 02).
            address: 0-based PDU address.
            count: Registers or bits; at most 125 registers or 2000 bits.
            device_id: The Modbus unit / slave id (0-247).

        Returns:
            Register words (0..65535), or exactly `count` bits for coil and discrete reads.

        Raises:
            DeviceUnavailable: Not connected and cannot connect, no answer within the timeout,
                or an exception response meaning busy, failed or unreachable behind a gateway.
            ModbusExceptionResponse: Illegal function, address or value for this device.
            ValueError: A count outside the protocol limits.
        """
        if not 1 <= count <= read_limit(register_type):
            raise ValueError(f"count {count} outside 1..{read_limit(register_type)}")
        if not self.connected:
            await self.connect()
        try:
            response = await self._call(register_type, address, count, device_id)
        except (TimeoutError, ModbusException, OSError) as exc:
            raise DeviceUnavailable(
                f"device {device_id}: no valid answer: {exc}", endpoint=self.endpoint.label
            ) from exc
        if response.isError():
            self._raise_exception_response(response, device_id)
        if register_type.is_bit:
            return [bool(bit) for bit in response.bits[:count]]
        return [int(word) for word in response.registers]

    async def _call(
        self, register_type: RegisterType, address: int, count: int, device_id: int
    ) -> Any:
        client = self._client
        if register_type is RegisterType.HOLDING:
            return await client.read_holding_registers(address, count=count, device_id=device_id)
        if register_type is RegisterType.INPUT:
            return await client.read_input_registers(address, count=count, device_id=device_id)
        if register_type is RegisterType.COIL:
            return await client.read_coils(address, count=count, device_id=device_id)
        return await client.read_discrete_inputs(address, count=count, device_id=device_id)

    def _raise_exception_response(self, response: Any, device_id: int) -> None:
        code = int(getattr(response, "exception_code", 0))
        function_code = int(response.function_code) & 0x7F
        if code in _TRANSIENT_CODES:
            raise DeviceUnavailable(
                f"device {device_id}: exception {code:#04x} ({_TRANSIENT_CODES[code]})",
                endpoint=self.endpoint.label,
            )
        raise ModbusExceptionResponse(
            endpoint=self.endpoint.label,
            device_id=device_id,
            function_code=function_code,
            code=code,
        )
