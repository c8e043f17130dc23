"""`POST /api/v1/readings`: the HTTP push of a gateway (same body as MQTT, docs/contracts.md §1).

The answer comes only after the readings are committed, so a 200 is an acknowledgement in the
sense of docs/contracts.md §2: a gateway that gets one may forget the data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel

from wqmon.api.deps import State, require_role
from wqmon.api.keys import ApiKey
from wqmon.ingest.contract import Sink
from wqmon.ingest.envelope import utcnow
from wqmon.ingest.push import BodyRefused, envelope_from_body
from wqmon.model import DeadLetter, Source

router = APIRouter(tags=["readings"])
MAX_BODY_BYTES = 8 * 1024 * 1024


class RejectedOut(BaseModel):
    index: int  # position in the body's readings, -1 when not tied to one
    reason: str
    detail: str


class PushResult(BaseModel):
    """Counts after commit."""

    stored: int
    duplicates: int  # already stored: first write wins
    conflicts: int  # of the duplicates, those whose value or flag differ from the stored one
    rejected: list[RejectedOut]


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, or 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE, f"body larger than {limit} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/readings",
    response_model=PushResult,
    responses={
        401: {"description": "no or unknown API key"},
        403: {"description": "not a gateway key, or the site is not one of the key's sites"},
        413: {"description": "body too large"},
        422: {"description": "body is not valid JSON of the documented shape"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PushBody"}}},
        }
    },
)
async def push_readings(
    request: Request, state: State, key: Annotated[ApiKey, require_role("gateway")]
) -> PushResult:
    """Store a gateway's readings; answers after commit with what was stored and refused."""
    raw = await read_limited(request, MAX_BODY_BYTES)
    sink: Sink = state.pipeline  # the route is a source like any driver (docs/drivers.md)
    received = utcnow()
    peer = f"key:{key.name}"

    async def refuse(code: int, reason: str, detail: str) -> HTTPException:
        await sink.dead_letter(DeadLetter(Source.HTTP, peer, raw, reason, detail, received))
        return HTTPException(code, detail)

    allowed = key.sites if key.role == "gateway" else frozenset[str]()
    try:
        envelope = envelope_from_body(
            raw, source=Source.HTTP, peer=peer, allowed_sites=allowed, received=received
        )
    except BodyRefused as exc:
        code = (
            status.HTTP_403_FORBIDDEN
            if exc.reason == "site_not_allowed"
            else status.HTTP_422_UNPROCESSABLE_CONTENT
        )
        raise await refuse(code, exc.reason, exc.detail) from exc
    outcome = await sink.submit(envelope)
    return PushResult(
        stored=outcome.stored,
        duplicates=outcome.duplicates,
        conflicts=outcome.conflicts,
        rejected=[
            RejectedOut(index=r.index, reason=r.reason, detail=r.detail) for r in outcome.rejected
        ],
    )
