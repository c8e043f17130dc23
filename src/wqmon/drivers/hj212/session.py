"""One HJ 212 TCP connection: frames in, envelopes to the pipeline, answers out after commit.

Each frame is parsed and authenticated (registered MN, matching PW, MODBUS CRC only where the
point allows it); anything refused is dead-lettered with its reason and never answered. Uploads
are reassembled when split, converted and put into the pipeline; the `9014` for each piece that
asked for one is written by a separate task once the envelope's outcome resolves, i.e. after
commit, so the read loop keeps reading (or, when the pipeline is full, stops reading: that is
the backpressure). Writes have a timeout: a peer that does not read is disconnected rather than
allowed to stall anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wqmon.drivers.hj212 import edition2025
from wqmon.drivers.hj212.state import LoggerState
from wqmon.errors import FrameError
from wqmon.ingest.directory import PointInfo
from wqmon.ingest.envelope import Envelope, Outcome
from wqmon.model import DeadLetter, Source
from wqmon.protocol.hj212 import builder
from wqmon.protocol.hj212.convert import Conversion, convert_packet
from wqmon.protocol.hj212.crc import CrcVariant
from wqmon.protocol.hj212.framer import BadFrame, Frame, FrameReader, Hj212Framer
from wqmon.protocol.hj212.packet import Packet, parse_segment
from wqmon.protocol.hj212.reassembly import Reassembler, merge_parts
from wqmon.protocol.hj212.version import version_of
from wqmon.store.hj212_book import SmKey

if TYPE_CHECKING:
    from wqmon.drivers.hj212.server import Hj212Driver

log = logging.getLogger(__name__)

_READ_SIZE = 4096
UPLOAD_CNS = frozenset({"2011", "2021", "2031", "2041", "2051", "2061", "2081"})
REPLY_CNS = frozenset({builder.CN_REQUEST_ANSWER, builder.CN_EXECUTION_RESULT})
CN_RESTART = "2081"


@dataclass(slots=True)
class _Upload:
    """A complete upload (maybe merged from pieces) and the raw frames it came in."""

    packet: Packet
    parts: tuple[Packet, ...]
    raw: bytes
    point: PointInfo


class Session:
    """Serves one logger connection until it closes, idles out or misbehaves."""

    def __init__(
        self,
        driver: Hj212Driver,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
    ) -> None:
        self.driver = driver
        self.peer = peer
        self.mns: set[str] = set()  # MNs this connection authenticated as
        self._reader = reader
        self._writer = writer
        config = driver.config
        self._frames = FrameReader(Hj212Framer(max_segment=config.max_segment))
        self._splits = Reassembler(timeout_s=config.reassembly_timeout_s)
        self._metrics = driver.ctx.telemetry.hj212
        # The labelled children, looked up once: `labels()` per packet is a dict and a lock.
        self._accepted = self._metrics.packets.labels(driver.name, "accepted")
        self._ack_seconds = self._metrics.ack_seconds.labels(driver.name)
        # id(piece) -> (its frame, its point, whether it was stored on its own)
        self._split_raw: dict[int, tuple[bytes, PointInfo, bool]] = {}
        self._write_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._faults = 0
        self.closed = False  # no more reading or writing
        self._closing = False

    # -- reading -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Read and handle frames until EOF, idle timeout, too many faults or cancellation."""
        idle = self.driver.config.idle_timeout_s
        try:
            while not self.closed:
                try:
                    async with asyncio.timeout(idle):
                        data = await self._reader.read(_READ_SIZE)
                except TimeoutError:
                    log.info("hj212 %s: idle for %g s, closing", self.peer, idle)
                    break
                if not data:
                    break
                for result in self._frames.feed(data):
                    await self._handle(result)
        except (ConnectionError, OSError) as exc:
            log.debug("hj212 %s: connection lost: %s", self.peer, exc)
        finally:
            await self.close()

    async def _handle(self, result: Frame | BadFrame) -> None:
        if isinstance(result, BadFrame):
            self._refuse(result.raw, result.reason, result.detail)
            return
        try:
            packet = parse_segment(result.segment)  # an encrypted frame's header is plain
        except FrameError as exc:
            self._refuse(result.raw, "bad_packet", str(exc))
            return
        if packet.cn == builder.CN_HARDWARE_ID:
            # A logger announcing itself has no registered MN yet: no authentication.
            await edition2025.hardware(self, packet, result)
            return
        key: SmKey | None = None
        if result.encrypted:
            opened = await edition2025.open_frame(self, packet, result)
            if opened is None:
                return
            packet, result, key = opened.packet, opened.frame, opened.key
        point = self._authenticate(packet, result)
        if point is None:
            return
        refusal = edition2025.plain_refused(packet, result, point)
        if refusal is not None:
            self._refuse(result.raw, "plain_refused", refusal, packet.mn)
            return
        self._edition(packet, key)
        self._accepted.inc()
        await self._dispatch(packet, result, point, key)

    def _edition(self, packet: Packet, key: SmKey | None) -> None:
        """Remember the edition the logger spoke (and the key), for the API."""
        state = self.driver.state.get(packet.mn)
        version = version_of(packet.flag)
        label = version.label if version is not None else str(packet.version)
        encrypted = key is not None
        kid = key.key_id if key is not None else state.key_id
        if (state.version, state.encrypted, state.key_id) != (label, encrypted, kid):
            state.version, state.encrypted, state.key_id = label, encrypted, kid
        self.driver.logger_changed(packet.mn)

    def _authenticate(self, packet: Packet, frame: Frame) -> PointInfo | None:
        """The point the packet's MN is registered to, or None after dead-lettering it."""
        point = self.driver.ctx.directory().point_for_mn(packet.mn)
        if point is None:
            self._refuse(frame.raw, "unknown_mn", f"MN {packet.mn!r} is not registered")
            return None
        if packet.pw != point.hj212_password:
            self._refuse(frame.raw, "wrong_password", f"wrong PW for MN {packet.mn}", packet.mn)
            return None
        modbus = frame.crc_variant is CrcVariant.MODBUS_LOW_FIRST
        if modbus and not point.hj212_options.get("accept_modbus_crc"):
            detail = f"CRC-16/MODBUS variant, not accepted for MN {packet.mn}"
            self._refuse(frame.raw, "bad_crc", detail, packet.mn)
            return None
        self._seen(packet.mn, point, frame, modbus=modbus)
        return point

    def _seen(self, mn: str, point: PointInfo, frame: Frame, *, modbus: bool) -> None:
        state = self.driver.state.get(mn)
        previous = state.last_packet_at
        new_connection = mn not in self.mns
        now = self.driver.ctx.clock()
        state.site, state.point = point.site, point.point
        state.packets += 1
        state.last_packet_at = now
        state.length_mismatches += frame.length_mismatch
        state.modbus_crc += modbus
        if new_connection:
            self.mns.add(mn)
            state.connected, state.peer, state.connected_at = True, self.peer, now
            self.driver.logger_connected(self, mn, point, previous)

    def refuse(self, raw: bytes, reason: str, detail: str, mn: str | None = None) -> None:
        """Dead-letter refused input (for the edition handlers)."""
        self._refuse(raw, reason, detail, mn)

    def _refuse(self, raw: bytes, reason: str, detail: str, mn: str | None = None) -> None:
        """Dead-letter refused input (never blocks) and count it; close after too many."""
        now = self.driver.ctx.clock()
        self.driver.ctx.sink.dead_letter(
            DeadLetter(Source.HJ212, self.peer, raw, reason, detail, now)
        )
        self._metrics.packets.labels(self.driver.name, reason).inc()
        self.driver.state.fault(reason)
        if mn is not None:
            self.driver.state.get(mn).error(now, f"{reason}: {detail}")
        log.debug("hj212 %s: refused (%s): %s", self.peer, reason, detail)
        self._faults += 1
        if self._faults >= self.driver.config.max_faults_per_connection:
            log.warning("hj212 %s: %d faults, closing the connection", self.peer, self._faults)
            self.closed = True

    # -- commands ------------------------------------------------------------------------------

    async def _dispatch(
        self, packet: Packet, frame: Frame, point: PointInfo, key: SmKey | None
    ) -> None:
        if packet.cn in UPLOAD_CNS:
            await self._upload(packet, frame, point)
        elif packet.cn in REPLY_CNS:
            self.driver.reply_received(packet)
        elif packet.cn == builder.CN_TIME_CALIBRATION:
            await self._calibrate_time(packet, point)
        elif packet.cn == builder.CN_HEARTBEAT:
            await edition2025.heartbeat(self, packet)
        elif packet.cn == builder.CN_NEW_KEY:
            await edition2025.new_key(self, packet, key, frame)
        elif packet.cn == builder.CN_STANDARD_CHECK:
            await edition2025.standard_check(self, packet, frame, point)
        else:
            log.debug("hj212 %s: CN %s from %s ignored", self.peer, packet.cn, packet.mn)

    async def _calibrate_time(self, packet: Packet, point: PointInfo) -> None:
        """Answer a 1013 with 9013, then set the logger's clock (1012) in the site's zone."""
        await self.write(builder.notify_answer(packet))
        command = builder.set_time_command(
            qn=self.driver.next_qn(point.timezone),
            mn=packet.mn,
            pw=point.hj212_password or "",
            system_time=self.driver.ctx.clock(),
            tz=point.timezone,
            st=packet.st or "32",
        )
        await self.write(command)

    async def _upload(self, packet: Packet, frame: Frame, point: PointInfo) -> None:
        upload = _Upload(packet, (packet,), frame.raw, point)
        if not packet.split:
            await self._ingest(upload)
            return
        stored = packet.data_time is not None
        if stored:
            # Loggers wait for each piece's 9014 before sending the next one, so a piece that
            # carries its DataTime is stored and answered on its own (after its commit). The
            # group is still reassembled, to run the unit check across pieces.
            await self._ingest(upload, check_units=False)
        self._split_raw[id(packet)] = (frame.raw, point, stored)
        done = self._splits.add(packet)
        if done is not None:
            await self._finish_group(done.packet, done.parts, None)

    @property
    def holds_splits(self) -> bool:
        """Whether pieces of a split upload wait here for the rest (housekeeping expires them)."""
        return self._splits.open_groups > 0

    async def expire_splits(self) -> None:
        """Store what arrived of split uploads that timed out (pieces may follow later)."""
        for partial in self._splits.expire():
            await self._finish_group(None, partial.parts, partial.reason)

    async def _finish_group(
        self, merged: Packet | None, parts: tuple[Packet, ...], incomplete: str | None
    ) -> None:
        """Ingest the pieces not stored yet as one upload, or check units of a stored group."""
        held = [(p, *self._split_raw.pop(id(p))) for p in parts]
        point = held[0][2]
        if incomplete is not None:
            # Data that arrived is data: store it (storage is idempotent, so a later complete
            # resend costs nothing) and count the incomplete upload as the logger's error.
            self.driver.state.get(parts[0].mn).error(self.driver.ctx.clock(), incomplete)
            log.warning("hj212 %s: %s", self.peer, incomplete)
        pending = tuple(p for p, _, _, stored in held if not stored)
        if pending:
            # Merge every piece (a DataTime may be in a stored one); re-storing the stored
            # pieces' records only counts duplicates. Answer just the pending pieces.
            raw = b"".join(r for p, r, _, stored in held if not stored)
            await self._ingest(_Upload(merge_parts(list(parts)), pending, raw, point))
        elif merged is not None:
            with contextlib.suppress(FrameError):
                conversion = convert_packet(merged, self.driver.binding_for(point))
                self._record_warnings(merged.mn, conversion)

    def _record_warnings(self, mn: str, conversion: Conversion) -> None:
        state = self.driver.state.get(mn)
        for warning in conversion.warnings:
            state.error(self.driver.ctx.clock(), f"unit check: {warning}")
            log.warning("hj212 %s MN %s: unit check failed: %s", self.peer, mn, warning)

    async def _ingest(self, upload: _Upload, *, check_units: bool = True) -> None:
        """Convert and put one upload; acknowledge its pieces once it is committed."""
        arrived = time.monotonic()
        packet, point = upload.packet, upload.point
        state = self.driver.state.get(packet.mn)
        state.uploads += 1
        if packet.cn == CN_RESTART:
            state.last_restart_at = self.driver.ctx.clock()
        try:
            conversion = convert_packet(packet, self.driver.binding_for(point))
        except FrameError as exc:
            self._refuse(upload.raw, "bad_packet", str(exc), packet.mn)
            return
        if check_units:
            self._record_warnings(packet.mn, conversion)
        envelope = self._envelope(conversion, upload)
        if not (envelope.readings or envelope.periods or envelope.rejected):
            self._spawn(self._acknowledge(upload.parts, state, None, arrived))
            return
        done = await self.driver.ctx.sink.put(envelope)
        self._spawn(self._acknowledge(upload.parts, state, done, arrived))

    def _envelope(self, conversion: Conversion, upload: _Upload) -> Envelope:
        now = self.driver.ctx.clock()
        rejected = [
            DeadLetter(Source.HJ212, self.peer, upload.raw, item.reason, item.detail, now)
            for item in conversion.rejected
        ]
        # RF=1: re-sent (late) data, stored and rolled up like any, kept out of live alarms.
        late = any(part.resent for part in upload.parts)
        return Envelope(
            source=Source.HJ212_LATE if late else Source.HJ212,
            peer=self.peer,
            readings=conversion.readings,
            periods=conversion.periods,
            rejected=rejected,
            received_at=now,
        )

    async def _acknowledge(
        self,
        parts: tuple[Packet, ...],
        state: LoggerState,
        done: asyncio.Future[Outcome] | None,
        arrived: float,
    ) -> None:
        if done is not None:
            outcome = await done
            state.readings += outcome.stored
            state.duplicates += outcome.duplicates
            state.conflicts += outcome.conflicts
            state.periods += outcome.periods_stored
            if outcome.rejected:
                first = outcome.rejected[0]
                state.error(self.driver.ctx.clock(), f"{first.reason}: {first.detail}")
        for part in parts:
            if part.ack_requested:
                await self.write(builder.data_answer(part))
                state.acks += 1
                self._ack_seconds.observe(time.monotonic() - arrived)

    # -- writing and lifecycle -----------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        """Write a frame; a peer that does not take it within the write timeout is dropped."""
        if self.closed:
            return
        timeout = self.driver.config.write_timeout_s
        try:
            async with self._write_lock, asyncio.timeout(timeout):
                self._writer.write(data)
                await self._writer.drain()
        except (TimeoutError, ConnectionError, OSError) as exc:
            log.info("hj212 %s: write failed (%r), closing", self.peer, exc)
            self.closed = True
            self._writer.transport.abort()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        # Short fire-and-forget work (an ack after commit): failures are logged in _task_done.
        task = asyncio.create_task(coro, name=f"hj212:{self.peer}:ack")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("hj212 %s: acknowledgement failed", self.peer, exc_info=task.exception())

    async def settle(self) -> None:
        """Wait until every upload received so far is committed and answered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Store pending split pieces, close the socket, forget in-flight answers.

        The envelopes already put still commit; only their answers are moot without a socket.
        """
        if self._closing:
            return
        self._closing = self.closed = True
        for partial in self._splits.expire(everything=True):
            await self._finish_group(None, partial.parts, "connection closed: " + partial.reason)
        for task in list(self._tasks):
            task.cancel()
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        self.driver.session_closed(self)
