"""The MQTT driver: `wqmon/v1/{gateway}/readings`, QoS 1, PUBACK only after commit.

paho runs its network loop in its own thread; messages cross into the event loop through
`call_soon_threadsafe`. Each message becomes one envelope. PUBACKs are sent in the order the
messages arrived (MQTT requires it), each as soon as its envelope and all before it are committed.
After a reconnect, acknowledgements owed on the old connection are dropped: the broker redelivers
those messages on the persistent session, and the idempotent store absorbs the repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from wqmon.drivers.mqtt.config import MqttConfig
from wqmon.drivers.mqtt.connection import (
    connect_properties,
    jitter_reconnect_delay,
    make_client,
    subscription_topic,
)
from wqmon.ingest.contract import DriverContext
from wqmon.ingest.envelope import Outcome, utcnow
from wqmon.ingest.push import BodyRefused, envelope_from_body
from wqmon.ingest.timeslice import TimeSlice
from wqmon.model import DeadLetter, Source
from wqmon.settings import Settings

log = logging.getLogger(__name__)
DRAIN_ON_STOP_S = 10.0


@dataclass(slots=True)
class _Pending:
    generation: int
    mid: int
    qos: int
    done: asyncio.Future[Outcome]


def gateway_of(topic: str) -> str | None:
    """The gateway id of `wqmon/v1/{gateway}/readings`, or None for any other topic."""
    match topic.split("/"):
        case ["wqmon", "v1", gateway, "readings"] if gateway:
            return gateway
        case _:
            return None


class MqttDriver:
    """Subscribes to gateway readings and feeds the pipeline, acknowledging after commit."""

    name = "mqtt"

    def __init__(self, config: MqttConfig) -> None:
        self.config = config
        self._inbox: asyncio.Queue[tuple[int, mqtt.MQTTMessage]] = asyncio.Queue()
        self._pending: deque[_Pending] = deque()
        self._arrived: deque[tuple[int, mqtt.MQTTMessage]] = deque()  # paho thread → loop
        self._wake_pending = False
        self._generation = 0
        self._client: mqtt.Client | None = None
        self.connected = asyncio.Event()

    async def run(self, ctx: DriverContext) -> None:
        config = self.config
        address = config.address
        # The metrics are registered once, in Telemetry: a restart only looks them up again.
        metrics = ctx.telemetry.mqtt
        self._messages = metrics.messages.labels(self.name)
        self._acks = metrics.acks.labels(self.name)
        self._unacked = metrics.unacked.labels(self.name)
        connects = metrics.connects.labels(self.name)
        loop = asyncio.get_running_loop()
        client = make_client(config, address)
        topic = subscription_topic(config)

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                log.warning("MQTT broker refused the connection: %s", reason)
                return
            # Counted here, in paho's thread, so every message that follows carries the new number.
            self._generation += 1
            connects.inc()
            c.subscribe(topic, qos=1)

        def on_subscribe(_c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
            # "Connected" means subscribed: before the SUBACK a new session drops what is published
            # (seen as lost messages in a test that published right after CONNACK on a busy machine).
            if any(code.is_failure for code in codes):
                log.warning("MQTT broker refused the subscription to %s: %s", topic, codes)
                return
            loop.call_soon_threadsafe(self._on_connected)

        def on_disconnect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            jitter_reconnect_delay(c)
            loop.call_soon_threadsafe(self.connected.clear)
            log.warning("MQTT disconnected (%s); reconnecting", reason)

        def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
            # Wake the event loop only when the hand-over deque was empty: under load one
            # wake-up carries many messages (each wake-up is a write to the loop's self-pipe).
            self._arrived.append((self._generation, message))
            if not self._wake_pending:
                self._wake_pending = True
                loop.call_soon_threadsafe(self._move_arrived)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        client.connect_async(
            address.host,
            address.port,
            keepalive=30,
            clean_start=False,
            properties=connect_properties(config),
        )
        self._client = client
        client.loop_start()
        try:
            await self._consume(ctx)
        finally:
            await self._finish(client)

    def _move_arrived(self) -> None:
        self._wake_pending = False
        while self._arrived:
            self._inbox.put_nowait(self._arrived.popleft())

    def _on_connected(self) -> None:
        self.connected.set()
        log.info("MQTT connected (session %d)", self._generation)
        self._ack_ready()

    async def _consume(self, ctx: DriverContext) -> None:
        # A backlog in the inbox would keep this loop from ever suspending (get() returns at
        # once): the slice gives the writer's round trips and other drivers their turn.
        share = TimeSlice()
        while True:
            if self._inbox.empty():
                generation, message = await self._inbox.get()
                share.restart()
            else:
                generation, message = self._inbox.get_nowait()
            await share.checkpoint()
            if generation != self._generation:
                continue  # arrived on a connection that is gone: it will be redelivered
            self._messages.inc()
            done = await self._handle(ctx, message)
            self._pending.append(_Pending(generation, message.mid, message.qos, done))
            self._unacked.set(len(self._pending))
            done.add_done_callback(lambda _f: self._ack_ready())

    async def _handle(
        self, ctx: DriverContext, message: mqtt.MQTTMessage
    ) -> asyncio.Future[Outcome]:
        """Turn one message into an envelope, or a dead letter when it cannot be one."""
        received = utcnow()
        raw = bytes(message.payload)
        gateway = gateway_of(message.topic)
        peer = gateway or message.topic

        def refuse(reason: str, detail: str) -> asyncio.Future[Outcome]:
            return ctx.sink.dead_letter(
                DeadLetter(Source.MQTT, peer, raw, reason, detail, received)
            )

        if gateway is None:
            return refuse(
                "bad_topic", f"topic {message.topic!r} is not wqmon/v1/{{gateway}}/readings"
            )
        sites = ctx.directory().sites_of_gateway(gateway)
        if sites is None:
            return refuse("unknown_gateway", f"gateway {gateway!r} is not registered")
        try:
            envelope = envelope_from_body(
                raw, source=Source.MQTT, peer=peer, allowed_sites=sites, received=received
            )
        except BodyRefused as exc:
            return refuse(exc.reason, exc.detail)
        return await ctx.sink.put(envelope)

    def _ack_ready(self) -> None:
        """PUBACK, in arrival order, every message whose envelope (and all before it) committed."""
        client = self._client
        while self._pending and self._pending[0].done.done():
            item = self._pending.popleft()
            if item.generation == self._generation and client is not None and item.qos > 0:
                client.ack(item.mid, item.qos)
                self._acks.inc()
        self._unacked.set(len(self._pending))

    async def _finish(self, client: mqtt.Client) -> None:
        """On stop: acknowledge what commits within a grace period, then disconnect.

        Never unsubscribe: the persistent session must keep queueing while we are away.
        """
        waiting = [p.done for p in self._pending]
        if waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(asyncio.gather(*waiting)), DRAIN_ON_STOP_S)
            self._ack_ready()
        await asyncio.sleep(0.05)  # let paho's thread write the last PUBACKs
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        self._client = None


def from_settings(settings: Settings) -> MqttDriver:
    """The driver `wqmon ingest` runs (registered in `wqmon.services.drivers`)."""
    return MqttDriver(MqttConfig.from_settings(settings))
