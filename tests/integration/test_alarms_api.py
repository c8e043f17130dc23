"""The alarm API against a real uvicorn server: list, acknowledge, SSE in order and resumed;
webhook delivery with a signature and a retry after a 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.fixtures.alarms import ingest_with_alarms, series
from tests.fixtures.api import running_api
from wqmon.alarms.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSender, verify
from wqmon.api.keys import create_key
from wqmon.settings import Settings

T0 = datetime(2025, 6, 1, tzinfo=UTC)
OUTLET_COD = "WWTP-01/outlet/cod"


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Parsed server-sent events (comments and retry lines skipped)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields:
                yield {
                    "id": int(fields["id"]),
                    "event": fields["event"],
                    **json.loads(fields["data"]),
                }
            fields = {}
        elif not line.startswith(":") and ":" in line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


async def _next(events: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    async with asyncio.timeout(30):
        return await anext(events)


async def test_sse_sees_raise_ack_clear_in_order_and_resumes(registry_db_url: str) -> None:
    token = create_key(registry_db_url, name="operator ana", role="operator")
    headers = {"X-API-Key": token}
    settings = Settings(database_url=registry_db_url, batch_linger_s=0.02)
    async with (
        running_api(settings) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
        ingest_with_alarms(registry_db_url) as ingest,
    ):
        assert (await client.get("/api/v1/alarms/stream")).status_code == 401
        async with client.stream("GET", "/api/v1/alarms/stream", headers=headers) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = sse_events(stream)
            await ingest.put(series("WWTP-01", "outlet", "cod", T0, [60.0] * 8, 5))
            raised = await _next(events)
            assert (raised["event"], raised["alarm"]["target"]) == ("raised", OUTLET_COD)
            alarm_id = raised["alarm"]["id"]

            listed = await client.get("/api/v1/alarms", params={"state": "active"}, headers=headers)
            assert [a["id"] for a in listed.json()] == [alarm_id]
            ack = await client.post(
                f"/api/v1/alarms/{alarm_id}/ack",
                json={"comment": "lab sample taken"},
                headers=headers,
            )
            assert ack.status_code == 200, ack.text
            assert ack.json()["alarm"]["acked_by"] == "operator ana"
            again = await client.post(f"/api/v1/alarms/{alarm_id}/ack", json={}, headers=headers)
            assert again.status_code == 409
            acked = await _next(events)
            assert (acked["event"], acked["alarm"]["ack_comment"]) == (
                "acknowledged",
                "lab sample taken",
            )

            await ingest.put(
                series("WWTP-01", "outlet", "cod", T0 + timedelta(minutes=40), [30.0] * 4, 5)
            )
            cleared = await _next(events)
            assert (cleared["event"], cleared["alarm"]["state"]) == ("cleared", "cleared")
            assert raised["id"] < acked["id"] < cleared["id"]

        # Reconnect as a browser would: everything after the last id it saw, from the table.
        resume = {**headers, "Last-Event-ID": str(raised["id"])}
        async with client.stream("GET", "/api/v1/alarms/stream", headers=resume) as stream:
            events = sse_events(stream)
            replayed = [await _next(events), await _next(events)]
        assert [(e["id"], e["event"]) for e in replayed] == [
            (acked["id"], "acknowledged"),
            (cleared["id"], "cleared"),
        ]
        cleared_list = await client.get("/api/v1/alarms?state=cleared", headers=headers)
        assert [a["acked_by"] for a in cleared_list.json()] == ["operator ana"]
        assert (
            await client.post("/api/v1/alarms/999999/ack", json={}, headers=headers)
        ).status_code == 404


class Receiver:
    """A minimal HTTP/1.1 webhook receiver on 127.0.0.1: answers 500 first, then 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.got_two = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")[1:]
        headers = {
            k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)
        }
        body = await reader.readexactly(int(headers["content-length"]))
        self.requests.append((headers, body))
        status = b"500 Internal Server Error" if len(self.requests) == 1 else b"200 OK"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()
        if len(self.requests) >= 2:
            self.got_two.set()


async def test_webhook_signed_and_retried_after_500() -> None:
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = WebhookSender([f"http://127.0.0.1:{port}/hook"], "s3cret", backoff_s=0.05)
    task = asyncio.create_task(sender.run())
    try:
        sender.submit({"id": 7, "kind": "raised", "alarm": {"target": OUTLET_COD}})
        async with asyncio.timeout(30):
            await sender.drain()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        server.close()
        await server.wait_closed()
    assert len(receiver.requests) == 2
    assert receiver.requests[0][1] == receiver.requests[1][1]
    for headers, body in receiver.requests:
        assert verify(
            "s3cret", headers[TIMESTAMP_HEADER.lower()], body, headers[SIGNATURE_HEADER.lower()]
        )
        assert not verify(
            "other", headers[TIMESTAMP_HEADER.lower()], body, headers[SIGNATURE_HEADER.lower()]
        )
        assert json.loads(body)["alarm"]["target"] == OUTLET_COD
    assert (sender.stats.delivered, sender.stats.retries, sender.stats.failed) == (1, 1, 0)
