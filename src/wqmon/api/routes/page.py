"""The operator page at `/`: static HTML, CSS and JavaScript shipped inside the package.

Nothing is loaded from the internet (bureau intranets have no access): no CDN, no web fonts;
the charts are drawn by Apache ECharts, vendored under `static/vendor/echarts/` with its
licence. The page itself needs no key; it asks for one (or takes it from a sign-in link,
`/#key=…`, which `wqmon demo` prints) and sends it as a header on every data call.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from wqmon.api.routes import accounting_page

STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    # no-cache: after an upgrade the page must pick up the matching script.
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    # Browsers and tools ask for /favicon.ico whatever the page links: the same SVG icon.
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


def mount_page(app: FastAPI) -> None:
    """Serve `/` and the files under `/static`."""
    app.include_router(router)
    app.include_router(accounting_page.router)  # /accounts and /public (docs/accounting.md)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
