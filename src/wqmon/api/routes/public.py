"""`/api/v1/public/...`: what the public sees, without a key — each region's yearly progress
and the lagging regions and parks, from approved accounts only (docs/accounting.md §6)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from wqmon.accounting.publication import progress, progress_csv
from wqmon.api.deps import State
from wqmon.api.errors import error_responses
from wqmon.api.routes.accounting import run_sync

router = APIRouter(prefix="/public", tags=["public"])
YearQ = Annotated[int | None, Query(ge=2000, le=2099, description="one year; all when absent")]


@router.get("/progress", responses=error_responses(422))
async def get_progress(*, state: State, year: YearQ = None) -> dict[str, Any]:
    """Approved region-years with their rates, targets and actions; the laggards apart."""
    return await run_sync(state, lambda conn: progress(conn, year))


@router.get("/progress.csv", responses=error_responses(422), response_class=Response)
async def get_progress_csv(*, state: State, year: YearQ = None) -> Response:
    """The same as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese names)."""
    body = await run_sync(state, lambda conn: progress(conn, year))
    name = f"progress-{year or 'all'}.csv"
    return Response(
        "\ufeff" + progress_csv(body),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
