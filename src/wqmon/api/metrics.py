"""Prometheus metrics of the HTTP API: requests by route template and status, and latency.

Labels use the route's path template (`/api/v1/sites/{code}`), never the raw path, so the number
of series stays bounded whatever URLs clients send.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram

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


class RouteTemplates:
    """Maps a request path to its route template, from the OpenAPI paths (built on first use).

    The spec is the one list of full templates that does not depend on how routers nest.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

    def _build(self) -> list[tuple[re.Pattern[str], str]]:
        templates = [*self.app.openapi().get("paths", {}), "/"]
        patterns = [
            (re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(t)) + "$"), t)
            for t in templates
        ]
        return [*patterns, (re.compile("^/static/"), "/static")]

    def __call__(self, path: str) -> str:
        if self._patterns is None:
            self._patterns = self._build()
        return next((t for p, t in self._patterns if p.match(path)), "unmatched")


def install_metrics(app: FastAPI, metrics: ApiMetrics) -> None:
    """Count and time every request."""
    templates = RouteTemplates(app)

    @app.middleware("http")
    async def observe(request: Request, call_next: Endpoint) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = templates(request.url.path)
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)
