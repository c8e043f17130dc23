"""Reading lines over UDP (`wqmon.protocol.line`): the minimal driver of docs/drivers.md.

Each datagram becomes one envelope; lines that are not readings become its dead letters. UDP
cannot be held back, so datagrams wait in a bounded queue and are dropped (and counted) when it
is full. The sender is answered `ok STORED DUPLICATES REJECTED` only once the envelope is
committed: that answer is the acknowledgement, and a sender that gets none sends again.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import BaseModel, ConfigDict, Field

from wqmon.ingest.contract import DriverContext
from wqmon.ingest.envelope import Envelope, Outcome
from wqmon.model import DeadLetter
from wqmon.protocol.line import parse_datagram
from wqmon.settings import Settings

log = logging.getLogger(__name__)
Address = tuple[str, int]


class LineUdpConfig(BaseModel):
    """`WQMON_DRIVERS='{"line_udp": {"host": ..., "port": ...}}'`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8094, ge=0, le=65535)  # 0: any free port
    queue_size: int = Field(1000, gt=0)  # datagrams waiting for the sink

    @classmethod
    def from_settings(cls, settings: Settings) -> LineUdpConfig:
        return cls.model_validate(settings.drivers.get("line_udp", {}))


class LineUdpDriver(asyncio.DatagramProtocol):
    name = "line_udp"

    def __init__(self, config: LineUdpConfig) -> None:
        self.config = config
        self.port: int | None = None
        self.dropped = 0
        self.ready = asyncio.Event()
        self._inbox: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue(config.queue_size)
        self._transport: asyncio.DatagramTransport | None = None

    def datagram_received(self, data: bytes, addr: Address) -> None:
        try:
            self._inbox.put_nowait((data, addr))
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self, ctx: DriverContext) -> None:
        loop = asyncio.get_running_loop()
        local = (self.config.host, self.config.port)
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=local)
        self._transport, self.port = transport, transport.get_extra_info("sockname")[1]
        self.ready.set()
        acks: set[asyncio.Task[None]] = set()
        try:
            while True:
                data, addr = await self._inbox.get()
                done = await ctx.sink.put(self._envelope(ctx, data, addr))  # blocks when full
                # Short-lived (one ack after its commit), not a loop: not supervised.
                task = asyncio.create_task(self._acknowledge(done, addr))
                acks.add(task)
                task.add_done_callback(acks.discard)
        finally:
            self.ready.clear()
            for task in acks:
                task.cancel()
            transport.close()

    def _envelope(self, ctx: DriverContext, data: bytes, addr: Address) -> Envelope:
        now, peer = ctx.clock(), f"{addr[0]}:{addr[1]}"
        readings, bad = parse_datagram(data)
        refused = [
            DeadLetter(self.name, peer, b.line.encode(), "bad_line", b.detail, now) for b in bad
        ]
        return Envelope(self.name, peer, readings, rejected=refused, received_at=now)

    async def _acknowledge(self, done: asyncio.Future[Outcome], addr: Address) -> None:
        outcome = await done  # after commit: only now may the sender forget the datagram
        answer = f"ok {outcome.stored} {outcome.duplicates} {len(outcome.rejected)}\n"
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(answer.encode(), addr)


def from_settings(settings: Settings) -> LineUdpDriver:
    return LineUdpDriver(LineUdpConfig.from_settings(settings))
