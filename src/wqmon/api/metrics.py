"""Prometheus metrics of the HTTP API: requests by route template and status, and latency.

Labels use the route's path template (`/api/v1/sites/{code}`), never the raw path, so the number
of series stays bounded whatever URLs clients send.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import Match

Endpoint = Callable[[Request], Awaitable[Response]]


class ApiMetrics:
    """The API's own registry (one per app, so tests stay apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "wqmon_api_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "wqmon_api_request_duration_seconds",
            "Time to the response head (streams count until their headers)",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )


def _route_template(app: FastAPI, request: Request) -> str:
    for route in app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "other"))
    return "unmatched"


def install_metrics(app: FastAPI, metrics: ApiMetrics) -> None:
    """Count and time every request."""

    @app.middleware("http")
    async def observe(request: Request, call_next: Endpoint) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = _route_template(app, request)
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)
