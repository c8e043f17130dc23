"""A Modbus meter simulator: pymodbus servers serving devices built from wqmon profiles.

One `ModbusMeterSimulator` is one server (Modbus TCP on a loopback port, RTU over TCP, or RTU on
a serial port such as a pseudo-terminal) answering for one or more device ids. Each
`SimulatedDevice` is a profile's register map; set a point's value, status and sample time and
the registers are encoded with the profile's data type, byte order and scale, as a real
instrument would present them. Values can change while the server runs, and the server can be
stopped and started again on the same port, for reconnect tests and the demo.

`VirtualSerialLink` joins two pseudo-terminals back to back (a null-modem cable in software),
so an RTU server and an RTU client can talk without hardware or socat.

Like `drivers/modbus/client.py`, this module is allowed to import pymodbus.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any, Self
from zoneinfo import ZoneInfo

from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from wqmon.protocol.modbus.config import Transport
from wqmon.protocol.modbus.profiles import Point, Profile, RegisterType
from wqmon.protocol.modbus.registers import (
    encode,
    encode_ascii,
    encode_bcd_time,
    register_count,
)

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")

# pymodbus function codes used to address each table of a device context.
_WRITE_FC = {
    RegisterType.COIL: 1,
    RegisterType.DISCRETE: 2,
    RegisterType.HOLDING: 3,
    RegisterType.INPUT: 4,
}
_TABLE_SIZE = 0x10000


def _table(register_type: RegisterType) -> ModbusSequentialDataBlock:
    # ModbusDeviceContext adds 1 to every address; starting the block at 1 makes PDU address
    # N land on index N, so the whole 0..65535 range is served.
    fill: bool | int = False if register_type.is_bit else 0
    # pymodbus 3.11 leaves these constructors unannotated although it ships py.typed.
    return ModbusSequentialDataBlock(1, [fill] * _TABLE_SIZE)  # type: ignore[no-untyped-call]


class SimulatedDevice:
    """One Modbus device (one device id) presenting a profile's register map."""

    def __init__(self, profile: Profile, device_id: int, *, tz: tzinfo = DEFAULT_TZ) -> None:
        """Create the device with every register zero.

        Args:
            profile: The register map to present.
            device_id: The unit / slave id it answers to.
            tz: Time zone of the instrument clock, for BCD sample times.
        """
        self.profile = profile
        self.device_id = device_id
        self.tz = tz
        self.context = ModbusDeviceContext(
            co=_table(RegisterType.COIL),
            di=_table(RegisterType.DISCRETE),
            hr=_table(RegisterType.HOLDING),
            ir=_table(RegisterType.INPUT),
        )

    def write(self, register_type: RegisterType, address: int, words: list[int]) -> None:
        """Put raw words (or 0/1 bits) at a 0-based PDU address."""
        values: list[int] | list[bool] = words
        if register_type.is_bit:
            values = [bool(w) for w in words]
        self.context.setValues(_WRITE_FC[register_type], address, values)

    def read(self, register_type: RegisterType, address: int, count: int) -> list[int]:
        """Raw words (or bits as 0/1) currently served at an address."""
        values = self.context.getValues(_WRITE_FC[register_type], address, count)
        if isinstance(values, list):
            return [int(v) for v in values]
        raise ValueError(f"{register_type} {address}+{count} is outside the table")

    def set_value(self, point: str | Point, value: float) -> None:
        """Serve an engineering value for a point, encoded per the profile.

        NaN is encoded as a NaN float, which is how E+H meters signal faults; integer types
        reject it with ValueError.
        """
        spec_point = self._point(point)
        words = encode(value, self.profile.value_spec(spec_point))
        self.write(spec_point.register_type, spec_point.address, words)

    def set_raw_value(self, point: str | Point, words: list[int]) -> None:
        """Serve exact register words for a point's value (e.g. a sentinel)."""
        spec_point = self._point(point)
        if len(words) != register_count(spec_point.data_type):
            raise ValueError(f"{spec_point.name} takes {spec_point.count} registers")
        self.write(spec_point.register_type, spec_point.address, words)

    def set_status(self, point: str | Point, status: str | int) -> None:
        """Serve a status: ASCII text for ``ascii`` status registers, a number for ``code``."""
        spec = self._point(point).status
        if spec is None:
            raise ValueError(f"point {self._point(point).name} has no status register")
        if spec.encoding == "ascii":
            order = self._point(point).order or self.profile.byte_order
            words = encode_ascii(str(status), spec.count, order)
        else:
            words = [int(status)] + [0] * (spec.count - 1)
        self.write(spec.register_type, spec.address, words)

    def set_sample_time(self, point: str | Point, moment: datetime) -> None:
        """Serve the time the analyser took its sample (aware datetime)."""
        spec = self._point(point).sample_time
        if spec is None:
            raise ValueError(f"point {self._point(point).name} has no sample-time register")
        self.write(spec.register_type, spec.address, encode_bcd_time(moment, self.tz))

    def _point(self, point: str | Point) -> Point:
        return point if isinstance(point, Point) else self.profile.point(point)


class ModbusMeterSimulator:
    """A pymodbus server answering for a set of simulated devices.

    Use ``async with ModbusMeterSimulator([device], port=0) as sim:`` and read `sim.port` for
    the port actually bound. Unknown device ids get no answer, like a silent slave on RS-485;
    pass ``answer_unknown=True`` to get the gateway exception 0x0B instead, as a TCP gateway
    would send.
    """

    def __init__(
        self,
        devices: Iterable[SimulatedDevice],
        *,
        transport: Transport = Transport.TCP,
        host: str = "127.0.0.1",
        port: int = 0,
        serial_port: str | None = None,
        baudrate: int = 9600,
        answer_unknown: bool = False,
    ) -> None:
        """Configure the server; nothing is bound until `start`."""
        self.devices = {device.device_id: device for device in devices}
        self.transport = transport
        self.host = host
        self.port = port
        self.serial_port = serial_port
        self.baudrate = baudrate
        self.answer_unknown = answer_unknown
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        contexts = {dev_id: dev.context for dev_id, dev in self.devices.items()}
        self._context = ModbusServerContext(  # type: ignore[no-untyped-call]
            devices=contexts, single=False
        )

    def device(self, device_id: int) -> SimulatedDevice:
        """The simulated device with this id (KeyError if absent)."""
        return self.devices[device_id]

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._server is not None

    async def start(self) -> None:
        """Start serving; with port 0 the bound port is stored in `port` (kept on restart)."""
        if self._server is not None:
            return
        server = self._build()
        await server.serve_forever(background=True)
        self._server = server
        if self.transport is not Transport.RTU and self.port == 0:
            # The listener's "transport" is the asyncio.Server; ask it which port it bound.
            sockets: Any = getattr(server.transport, "sockets", ())
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop serving and drop every client connection."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]

    async def __aenter__(self) -> Self:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        """Stop the server."""
        await self.stop()

    def _build(self) -> ModbusTcpServer | ModbusSerialServer:
        common: dict[str, Any] = {"ignore_missing_devices": not self.answer_unknown}
        if self.transport is Transport.RTU:
            if not self.serial_port:
                raise ValueError("an RTU simulator needs serial_port")
            return ModbusSerialServer(
                self._context,
                framer=FramerType.RTU,
                port=self.serial_port,
                baudrate=self.baudrate,
                **common,
            )
        framer = FramerType.RTU if self.transport is Transport.RTU_OVER_TCP else FramerType.SOCKET
        return ModbusTcpServer(
            self._context, framer=framer, address=(self.host, self.port), **common
        )


class VirtualSerialLink:
    """Two pseudo-terminals joined back to back: bytes written to one arrive at the other.

    Open `port_a` with the server and `port_b` with the client. Must be started and closed on
    the event loop that relays the bytes.
    """

    def __init__(self) -> None:
        """Allocate the two pseudo-terminal pairs (no relaying until `start`)."""
        self._a_master, self._a_slave = os.openpty()
        self._b_master, self._b_slave = os.openpty()
        for fd in (self._a_slave, self._b_slave):
            tty.setraw(fd)  # no echo, no CR/LF translation: Modbus frames are binary
        self.port_a = os.ttyname(self._a_slave)
        self.port_b = os.ttyname(self._b_slave)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Start relaying on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._a_master, self._relay, self._a_master, self._b_master)
        self._loop.add_reader(self._b_master, self._relay, self._b_master, self._a_master)

    @staticmethod
    def _relay(source: int, target: int) -> None:
        try:
            data = os.read(source, 4096)
        except OSError:  # EIO while no process holds the other end open
            return
        if data:
            os.write(target, data)

    def close(self) -> None:
        """Stop relaying and release the terminals."""
        if self._loop is not None:
            self._loop.remove_reader(self._a_master)
            self._loop.remove_reader(self._b_master)
            self._loop = None
        for fd in (self._a_master, self._b_master, self._a_slave, self._b_slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> Self:
        """Start relaying."""
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop relaying."""
        self.close()
