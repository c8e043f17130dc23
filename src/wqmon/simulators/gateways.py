"""Simulated field gateways: MQTT publishers and HTTP pushers of the JSON body (docs/contracts.md §1).

A gateway reports, per tick, one body per site with the current value of every parameter of
its points; a backfill sends one body per site and chunk of history. Faults from the model:
offline points are left out, a skewed clock shifts `ts`, a resend publishes the body twice, and
a corrupted body (truncated JSON) goes out before the good one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from wqmon.errors import DeviceUnavailable
from wqmon.parameters import by_code
from wqmon.protocol.mqtt_url import parse_mqtt_url
from wqmon.simulators.clock import SimClock
from wqmon.simulators.field import FieldModel, MeterPoint
from wqmon.simulators.scenarios import GatewayTarget

log = logging.getLogger(__name__)


def reading(mp: MeterPoint, code: str, ts: datetime, value: float, flag: str) -> dict[str, Any]:
    unit = by_code(code).unit
    item: dict[str, Any] = {"point": mp.point, "parameter": code, "ts": ts.isoformat()}
    item |= {"value": value, "flag": flag}
    if unit != "pH":
        item["unit"] = unit
    return item


def site_bodies(
    target: GatewayTarget,
    model: FieldModel,
    clock: SimClock,
    walls: Iterable[datetime],
    *,
    faults: bool = True,
) -> dict[str, list[dict[str, Any]]]:
    """Readings per site for each wall instant, with the model's offline and skew faults."""
    bodies: dict[str, list[dict[str, Any]]] = {}
    for wall in walls:
        model_time = clock.model(wall)
        for mp in target.points:
            if model.offline(mp, model_time):
                continue
            ts = wall + (model.clock_skew(mp, model_time) if faults else timedelta(0))
            ts = ts.astimezone(mp.tz).replace(microsecond=0)
            for code, sample in model.snapshot(mp, model_time).items():
                item = reading(mp, code, ts, sample.value, sample.flag)
                bodies.setdefault(mp.site, []).append(item)
    return bodies


class Gateway:
    """The shared part of both gateway kinds: bodies, faults, counts."""

    def __init__(self, target: GatewayTarget, model: FieldModel, clock: SimClock) -> None:
        self.target = target
        self.model = model
        self.clock = clock
        self.sent = 0  # bodies accepted by the broker or the API

    async def start(self) -> None:
        """Connect (MQTT); nothing for HTTP."""

    async def stop(self) -> None:
        """Disconnect."""

    async def send(self, body: bytes) -> bool:
        raise NotImplementedError

    def _site_points(self, site: str) -> list[MeterPoint]:
        return [mp for mp in self.target.points if mp.site == site]

    async def report(self, wall: datetime, *, faults: bool = True) -> None:
        """One body per site for the instant `wall`."""
        await self.report_many([wall], faults=faults)

    async def report_many(self, walls: list[datetime], *, faults: bool = True) -> None:
        """One body per site covering all of `walls` (a backfill chunk)."""
        bodies = site_bodies(self.target, self.model, self.clock, walls, faults=faults)
        for site, readings in bodies.items():
            body = json.dumps({"site": site, "readings": readings}).encode()
            model_time = self.clock.model(walls[-1])
            points = self._site_points(site)
            if faults and any(self.model.corrupt(mp, model_time) for mp in points):
                await self.send(body[: len(body) // 2])
            if await self.send(body):
                self.sent += 1
            if faults and any(self.model.resend(mp, model_time) for mp in points):
                await self.send(body)

    async def run(self, interval_s: float) -> None:
        """Report every `interval_s` of wall time until cancelled."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        await self.start()
        try:
            while True:
                await self.report(self.clock.now())
                next_tick += interval_s
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
        finally:
            await self.stop()


class MqttGateway(Gateway):
    """Publishes bodies to `wqmon/v1/{gateway}/readings` with QoS 1 (MQTT 5, paho)."""

    def __init__(
        self, target: GatewayTarget, model: FieldModel, clock: SimClock, mqtt_url: str
    ) -> None:
        super().__init__(target, model, clock)
        self.address = parse_mqtt_url(mqtt_url)
        self.topic = f"wqmon/v1/{target.id}/readings"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"wqmon-sim-{target.id}", protocol=mqtt.MQTTv5
        )
        if self.address.username is not None:
            self.client.username_pw_set(self.address.username, self.address.password)
        if self.address.tls:
            self.client.tls_set()
        self._started = False

    async def start(self) -> None:
        if self._started:
            return
        try:
            await asyncio.to_thread(self.client.connect, self.address.host, self.address.port)
        except OSError as exc:
            raise DeviceUnavailable(str(exc), endpoint=f"mqtt:{self.address.host}") from exc
        self.client.loop_start()
        self._started = True

    async def stop(self) -> None:
        if self._started:
            self.client.disconnect()
            await asyncio.to_thread(self.client.loop_stop)
            self._started = False

    async def send(self, body: bytes) -> bool:
        info = self.client.publish(self.topic, body, qos=1)
        try:
            await asyncio.to_thread(info.wait_for_publish, 30)
        except (RuntimeError, ValueError) as exc:  # not connected, queue full
            log.info("gateway %s: publish failed: %s", self.target.id, exc)
            return False
        return info.is_published()


class HttpGateway(Gateway):
    """Pushes bodies to `POST /api/v1/readings` with the gateway's API key."""

    def __init__(
        self, target: GatewayTarget, model: FieldModel, clock: SimClock, api_url: str, token: str
    ) -> None:
        super().__init__(target, model, clock)
        self.url = api_url.rstrip("/") + "/api/v1/readings"
        self.token = token
        self.refused = 0  # bodies the API answered with 4xx (e.g. the corrupted ones)

    def _post(self, body: bytes) -> int:
        request = urllib.request.Request(  # noqa: S310 - the URL is our own API's
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    async def send(self, body: bytes) -> bool:
        try:
            status = await asyncio.to_thread(self._post, body)
        except (urllib.error.URLError, OSError) as exc:
            log.info("gateway %s: push failed: %s", self.target.id, exc)
            return False
        if status >= 400:  # noqa: PLR2004 - HTTP status classes
            self.refused += 1
        return status < 300  # noqa: PLR2004
