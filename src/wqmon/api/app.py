"""The FastAPI application of `wqmon api` (docs/contracts.md §1).

It reads the database through a connection pool and writes pushed readings through its own
ingest pipeline (so `POST /api/v1/readings` answers after commit, like every other source).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import msgspec
import psycopg
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from wqmon import __version__
from wqmon.api.alarm_stream import AlarmHub
from wqmon.api.deps import AppState, State
from wqmon.api.errors import install_error_handlers
from wqmon.api.metrics import ApiMetrics, install_metrics
from wqmon.api.push_relay import PushNotifier
from wqmon.api.routes import (
    accounting,
    alarms,
    audit,
    balance,
    hj212,
    public,
    readings,
    readings_query,
    sites,
)
from wqmon.api.routes import health as health_routes
from wqmon.api.routes.page import mount_page
from wqmon.balance.dirty import mark_dirty
from wqmon.ingest.directory import Directory, load_directory
from wqmon.ingest.pipeline import Pipeline, pipeline_config
from wqmon.protocol.push import BodyIn
from wqmon.settings import Settings, libpq_url
from wqmon.supervision import restart_counter, start_supervised

log = logging.getLogger(__name__)


async def _reload_directory(state: AppState) -> None:
    while True:
        await asyncio.sleep(state.settings.registry_reload_s)
        try:
            async with state.pool.connection() as conn:
                state.pipeline.directory = await load_directory(conn)
        except psycopg.OperationalError as exc:
            log.debug("registry reload skipped: %s", exc)


def _push_pipeline(settings: Settings, url: str, directory: Directory) -> Pipeline:
    """The pipeline of HTTP pushes; its rows mark their rollup hours in their own transaction,
    so ingest's rollup worker recomputes them (docs/balance.md, "Keeping rollups current")."""

    async def connect() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(url, connect_timeout=5)

    marks = None if settings.rollup_mode == "off" else mark_dirty
    return Pipeline(connect, directory, pipeline_config(settings, role="api"), on_stored=marks)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; the database is reached in the lifespan, not here."""
    settings = settings or Settings()
    url = libpq_url(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url, min_size=1, max_size=10, open=False
        )
        await pool.open()
        async with pool.connection() as conn:
            directory = await load_directory(conn)
        pipeline = _push_pipeline(settings, url, directory)
        notifier = PushNotifier(url)  # tells ingest's alarm engine what pushes stored
        pipeline.add_commit_listener(notifier.on_commit)
        pipeline.start()
        state = AppState(settings, pool, pipeline)
        # The balance engine is synchronous code shared with the reports: it gets its own pool.
        sync_pool: ConnectionPool[Any] = ConnectionPool(url, min_size=0, max_size=4, open=False)
        sync_pool.open()
        state.extras[balance.SYNC_POOL] = sync_pool
        app.state.wqmon = state
        # Supervised: a loop that dies is logged, counted on /metrics and restarted.
        restarts = restart_counter(pipeline.metrics.registry)
        reloader = start_supervised(
            "api:registry-reload", partial(_reload_directory, state), restarts=restarts
        )
        hub = state.extras[alarms.HUB_KEY] = AlarmHub(url)
        listener = start_supervised("api:alarm-listen", hub.run, restarts=restarts)
        pushes = start_supervised("api:push-notify", notifier.run, restarts=restarts)
        try:
            yield
        finally:
            reloader.cancel()
            listener.cancel()
            pushes.cancel()
            await asyncio.gather(reloader, listener, pushes, return_exceptions=True)
            await pipeline.stop()
            await asyncio.to_thread(sync_pool.close)
            await pool.close()

    app = FastAPI(
        title="wqmon",
        version=__version__,
        summary="Online water-quality monitoring: readings, balance and alarms",
        lifespan=lifespan,
    )
    app.include_router(readings.router, prefix="/api/v1")
    app.include_router(alarms.router, prefix="/api/v1")
    for router in (
        sites.router,
        readings_query.router,
        balance.router,
        audit.router,
        accounting.router,
        public.router,
        hj212.router,
    ):
        app.include_router(router, prefix="/api/v1")
    app.include_router(health_routes.router)
    api_metrics = ApiMetrics()
    install_metrics(app, api_metrics)
    install_error_handlers(app)
    mount_page(app)
    _add_schemas(app)

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics(state: State) -> Response:
        """Prometheus metrics of this process (pushed readings, API requests)."""
        body = generate_latest(state.pipeline.metrics.registry)
        body += generate_latest(api_metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app


def _add_schemas(app: FastAPI) -> None:
    """Publish the push body's schema (decoded by msgspec, not pydantic) in the OpenAPI spec."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        _refs, components = msgspec.json.schema_components(
            [BodyIn], ref_template="#/components/schemas/{name}"
        )
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(components)
        schemas["PushBody"] = schemas.pop("BodyIn")
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
