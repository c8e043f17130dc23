"""One JSON error shape for every failure of the API.

Every error answer is `{"detail": "<human message>", "status": <code>, "code": "<slug>"}`; a
validation error adds `"errors": [...]` (FastAPI's per-field list). `detail` stays a string so
clients (and the operator page) can show it as is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ErrorOut(BaseModel):
    """The body of every error answer."""

    detail: str
    status: int
    code: str
    errors: list[dict[str, Any]] | None = None


def _code(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def error_response(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    """An error answer in the one shape."""
    body = ErrorOut(detail=detail, status=status, code=_code(status), errors=errors)
    return JSONResponse(
        jsonable_encoder(body, exclude_none=True), status_code=status, headers=headers
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type only
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return error_response(exc.status_code, detail, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"])
    return error_response(422, f"{where}: {message}" if where else message, errors=errors)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Logged with the traceback; the caller gets the shape without internals.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error")


def install_error_handlers(app: FastAPI) -> None:
    """Route HTTP, validation and unexpected errors through `error_response`."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error codes, all with `ErrorOut`."""
    described = {
        400: "bad request (parameters that contradict each other)",
        401: "no or unknown API key",
        403: "the key's role or sites do not allow this",
        404: "not found",
        409: "conflict with the current state",
        422: "invalid parameters",
        503: "not ready",
    }
    return {c: {"model": ErrorOut, "description": described.get(c, "error")} for c in codes}
