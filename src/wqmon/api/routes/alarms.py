"""`/api/v1/alarms`: list, acknowledge, and a live stream of alarm events (docs/alarms.md).

Operators and admins only. The stream is server-sent events: each event's id is an
`alarm_event` id, so a client that reconnects with `Last-Event-ID` (or `?after=`) gets every
event it missed from the table, then the live ones from PostgreSQL LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, status
from pydantic import BaseModel, Field
from starlette.responses import StreamingResponse

from wqmon.alarms.store import (
    AlarmNotFound,
    AlreadyAcknowledged,
    acknowledge,
    get_alarm,
    list_alarms,
)
from wqmon.api.alarm_stream import AlarmHub, event_stream
from wqmon.api.deps import AppState, State, require_role
from wqmon.api.keys import ApiKey

router = APIRouter(tags=["alarms"])
Operator = Annotated[ApiKey, require_role("operator", "admin")]
StateFilter = Literal["open", "active", "acknowledged", "cleared", "unacknowledged", "all"]
HUB_KEY = "alarm_hub"


class AlarmOut(BaseModel):
    id: int
    rule: str
    target: str
    channel_id: int | None
    severity: str
    state: str
    value: float | None
    threshold: float | None
    message: str
    raised_at: datetime
    acked_at: datetime | None
    acked_by: str | None
    ack_comment: str | None
    cleared_at: datetime | None
    last_notified_at: datetime
    notify_count: int


class AckIn(BaseModel):
    comment: str = Field("", max_length=2000)


class AckOut(BaseModel):
    event_id: int
    alarm: AlarmOut


@router.get("/alarms", response_model=list[AlarmOut])
async def get_alarms(
    state: State,
    _key: Operator,
    alarm_state: Annotated[StateFilter, Query(alias="state")] = "open",
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """Alarms in a state (default: open, i.e. not cleared), newest first."""
    async with state.pool.connection() as conn:
        return await list_alarms(conn, alarm_state, limit)


@router.post(
    "/alarms/{alarm_id}/ack",
    response_model=AckOut,
    responses={404: {"description": "no such alarm"}, 409: {"description": "already acknowledged"}},
)
async def ack_alarm(alarm_id: int, body: AckIn, state: State, key: Operator) -> AckOut:
    """Acknowledge an alarm as the calling key's name, with a comment."""
    async with state.pool.connection() as conn:
        try:
            event = await acknowledge(conn, alarm_id, key.name, body.comment, datetime.now(UTC))
        except AlarmNotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id}") from exc
        except AlreadyAcknowledged as exc:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"alarm {alarm_id} is already acknowledged"
            ) from exc
        alarm = await get_alarm(conn, alarm_id)
    return AckOut(event_id=event.id, alarm=AlarmOut.model_validate(alarm))


async def _hub(state: AppState) -> AlarmHub:
    hub: AlarmHub = state.extras[HUB_KEY]
    try:
        await asyncio.wait_for(hub.listening.wait(), 10)
    except TimeoutError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "alarm stream not connected to the database"
        ) from exc
    return hub


@router.get(
    "/alarms/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_alarms(
    state: State,
    _key: Operator,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> StreamingResponse:
    """Server-sent alarm events; resumes after `Last-Event-ID` (or `after`), else from now."""
    resume = after
    if last_event_id is not None and last_event_id.strip().isdigit():
        resume = int(last_event_id.strip())
    hub = await _hub(state)
    return StreamingResponse(
        event_stream(hub, state.pool, resume),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
