"""The accounting pages: `/accounts` (county accounts, city review, reports, results; asks for
a key) and `/public` (the published progress; no key). Static files like the operator page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(include_in_schema=False)
_NO_CACHE = {"Cache-Control": "no-cache"}


@router.get("/accounts")
async def accounts_page() -> FileResponse:
    return FileResponse(STATIC / "accounts.html", headers=_NO_CACHE)


@router.get("/public")
async def public_page() -> FileResponse:
    return FileResponse(STATIC / "public.html", headers=_NO_CACHE)
