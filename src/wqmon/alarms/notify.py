"""Webhook notifications: signed JSON POSTs with retries and backoff.

Each alarm event is POSTed to every configured URL as the JSON the SSE stream carries. The
signature lets the receiver check origin and integrity:

    X-Wqmon-Timestamp: <unix seconds>
    X-Wqmon-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

A 2xx is delivered; a connection error, a timeout, 408, 429 or a 5xx is retried with capped
full-jitter backoff (`wqmon.supervision.backoff`) up to `max_attempts`; any other answer is final. The queue is a side branch:
bounded, and full means drop and count (the event stays in the table and on the SSE stream).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from wqmon.supervision import backoff

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Wqmon-Signature"
TIMESTAMP_HEADER = "X-Wqmon-Timestamp"
RETRIED_STATUS = frozenset({408, 429})
SERVER_ERROR = 500


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value of a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does (and the tests): constant-time comparison of the signature."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass(slots=True)
class WebhookStats:
    delivered: int = 0
    retries: int = 0
    failed: int = 0  # gave up after max_attempts or on a final error status
    dropped: int = 0  # queue full


class WebhookSender:
    """Delivers events to webhook URLs from one task, in order per URL."""

    def __init__(
        self,
        urls: list[str],
        secret: str,
        *,
        max_attempts: int = 6,
        backoff_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        timeout_s: float = 10.0,
        queue_size: int = 10_000,
    ) -> None:
        self.urls = list(urls)
        self.secret = secret
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self.timeout_s = timeout_s
        self.stats = WebhookStats()
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)

    def submit(self, event: dict[str, Any]) -> None:
        """Queue an event; never blocks."""
        if not self.urls:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            log.warning("webhook queue full: event %s not sent", event.get("id"))

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            while True:
                event = await self._queue.get()
                body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
                for url in self.urls:
                    await self._deliver(client, url, body, str(event.get("id", "")))
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every queued event was delivered or given up (tests, shutdown)."""
        await self._queue.join()

    async def _deliver(self, client: httpx.AsyncClient, url: str, body: bytes, eid: str) -> None:
        for attempt in range(1, self.max_attempts + 1):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(self.secret, timestamp, body),
                "X-Wqmon-Event-Id": eid,
            }
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    self.stats.delivered += 1
                    return
                outcome = f"HTTP {response.status_code}"
                if (
                    response.status_code < SERVER_ERROR
                    and response.status_code not in RETRIED_STATUS
                ):
                    break
            if attempt < self.max_attempts:
                self.stats.retries += 1
                await asyncio.sleep(
                    backoff(attempt - 1, base_s=self.backoff_s, cap_s=self.backoff_cap_s)
                )
        self.stats.failed += 1
        log.warning("webhook %s: event %s not delivered (%s)", url, eid, outcome)
