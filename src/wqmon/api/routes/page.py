"""The operator page at `/`: static HTML, CSS and JavaScript shipped inside the package.

Nothing is loaded from the internet (bureau intranets have no access): no CDN, no web fonts,
charts are inline SVG drawn by the page's own script. The page itself needs no key; it asks
for one and sends it as a header on every data call.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    # no-cache: after an upgrade the page must pick up the matching script.
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def mount_page(app: FastAPI) -> None:
    """Serve `/` and the files under `/static`."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
