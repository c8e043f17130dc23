"""`wqmon demo`: everything in one process on a machine with nothing running.

Start (each step printed): PostgreSQL in the data folder (unless `WQMON_DATABASE_URL` is set),
an MQTT 5 broker (unless `WQMON_MQTT_URL` is set), migrate, import the example registry, the
ingest service (HJ 212 on 9212 or a free port), the API (8000 or a free port), gateway API keys,
the simulated field, a backfill of history, then live reports. Ctrl-C (SIGINT) or SIGTERM
stops it all in reverse order: the field, the API, ingest (drained), the broker, PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn

from wqmon.settings import Settings

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What `wqmon demo` was asked for."""

    data_dir: Path
    scenario: str = "city"
    seed: int = 1
    speed: float = 1.0
    backfill_days: float = 2.0
    registry: Path | None = None


def free_port(preferred: int) -> int:
    """`preferred` when it is free on 127.0.0.1, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port")


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the demo owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Demo:
    """The running parts, started in order and stopped in reverse by an exit stack."""

    def __init__(self, settings: Settings, options: DemoOptions, progress: Progress) -> None:
        self.settings = settings
        self.options = options
        self.say = progress
        self.stack = contextlib.AsyncExitStack()
        self.api_url = ""

    async def _blocking(self, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(func, *args)

    async def start_database(self) -> None:
        if "database_url" in self.settings.model_fields_set:
            self.say(f"[1/7] PostgreSQL: using WQMON_DATABASE_URL ({self.settings.database_url})")
            return
        from wqmon.demo.postgres import EmbeddedPostgres  # noqa: PLC0415

        pg = EmbeddedPostgres(self.options.data_dir)
        kind = "with TimescaleDB" if pg.binaries.timescale else "plain tables"
        created = await self._blocking(pg.init)
        self.stack.callback(pg.stop)
        await self._blocking(pg.start, free_port(55432))
        await self._blocking(pg.ensure_database)
        how = "new cluster" if created else "reusing"
        self.say(
            f"[1/7] PostgreSQL ({pg.binaries.origin}, {kind}): {how} {pg.datadir}, port {pg.port}"
        )
        self._update(database_url=pg.url())

    async def start_broker(self) -> None:
        if self.settings.mqtt_url:
            self.say(f"[2/7] MQTT: using WQMON_MQTT_URL ({self.settings.mqtt_url})")
            return
        from wqmon.demo.broker import EmbeddedBroker  # noqa: PLC0415

        broker = EmbeddedBroker(self.options.data_dir / "mqtt", free_port(1883))
        self.stack.callback(broker.stop)
        await self._blocking(broker.start)
        self.say(f"[2/7] MQTT 5 broker (rumqttd, in-process package): {broker.url}")
        self._update(mqtt_url=broker.url)

    async def prepare_database(self) -> None:
        from wqmon.registry.importer import import_file  # noqa: PLC0415
        from wqmon.simulators.scenarios import EXAMPLE_REGISTRY  # noqa: PLC0415
        from wqmon.store.migrate import migrate  # noqa: PLC0415

        mode = await self._blocking(migrate, self.settings)
        self.say(f"[3/7] schema migrated: {mode.describe()}")
        registry = self.options.registry or EXAMPLE_REGISTRY
        summary = await self._blocking(import_file, self.settings.database_url, registry)
        self.say(f"[4/7] registry {registry.name} imported: {summary.describe()}")

    async def start_services(self) -> None:
        from wqmon.api.app import create_app  # noqa: PLC0415
        from wqmon.services.drivers import build_drivers  # noqa: PLC0415
        from wqmon.services.ingest import IngestService  # noqa: PLC0415

        service = IngestService(self.settings, build_drivers(self.settings))
        self.stack.push_async_callback(service.stop)
        await service.start()
        config = uvicorn.Config(
            create_app(self.settings),
            host=self.settings.api_host,
            port=self.settings.api_port,
            log_level="warning",
        )
        server = _QuietServer(config)
        task = asyncio.create_task(server.serve(), name="demo:api")

        async def stop_api() -> None:
            server.should_exit = True
            await asyncio.gather(task, return_exceptions=True)

        self.stack.push_async_callback(stop_api)
        while not server.started:
            if task.done():
                raise OSError(f"the API did not start on port {self.settings.api_port}")
            await asyncio.sleep(0.05)
        self.api_url = f"http://{self.settings.api_host}:{self.settings.api_port}"
        self.say(
            f"[5/7] ingest running (HJ 212 on {self.settings.hj212_host}:"
            f"{self.settings.hj212_port}, MQTT, HTTP, Modbus) and API on {self.api_url}"
        )

    async def start_field(self) -> None:
        from wqmon.api.keys import create_key  # noqa: PLC0415
        from wqmon.simulators import scenarios  # noqa: PLC0415
        from wqmon.simulators.runner import FieldRunner, Targets  # noqa: PLC0415

        opts = self.options
        registry = opts.registry or scenarios.EXAMPLE_REGISTRY
        anchor = datetime.now(UTC).replace(microsecond=0)
        scenario = scenarios.build(opts.scenario, seed=opts.seed, anchor=anchor, registry=registry)
        tokens = {}
        for gateway in scenario.gateways:
            tokens[gateway.id] = await self._blocking(
                lambda g=gateway.id: create_key(
                    self.settings.database_url, name="demo-simulator", role="gateway", gateway=g
                )
            )
        targets = Targets(
            hj212_port=self.settings.hj212_port,
            mqtt_url=self.settings.mqtt_url,
            api_url=self.api_url,
            gateway_tokens=tokens,
        )
        runner = FieldRunner(scenario, targets, speed=opts.speed)
        self.stack.push_async_callback(runner.stop)
        await runner.start()
        self.say(f"[6/7] field '{opts.scenario}' (seed {opts.seed}): {runner.summary()}")
        if opts.backfill_days > 0:
            sent = await runner.backfill(opts.backfill_days)
            self.say(f"[7/7] backfilled {opts.backfill_days:g} days of history ({sent} uploads)")
        else:
            self.say("[7/7] no backfill")
        runner.run()

    def _update(self, **changes: Any) -> None:
        self.settings = self.settings.model_copy(update=changes)

    def choose_ports(self) -> None:
        """Loopback listeners; 9212 and 8000 when free, unless configured."""
        given = self.settings.model_fields_set
        changes: dict[str, Any] = {}
        if "hj212_host" not in given:
            changes["hj212_host"] = "127.0.0.1"
        if "hj212_port" not in given:
            changes["hj212_port"] = free_port(9212)
        if "api_port" not in given:
            changes["api_port"] = free_port(8000)
        if "batch_linger_s" not in given:
            changes["batch_linger_s"] = 0.02  # the backfill waits for each 9014
        if "mqtt_client_id" not in given:
            changes["mqtt_client_id"] = "wqmon-demo"
        self._update(**changes)

    async def start(self) -> None:
        self.choose_ports()
        await self.start_database()
        await self.start_broker()
        await self.prepare_database()
        await self.start_services()
        await self.start_field()
        self.say(f"wqmon demo is running: operator page {self.api_url}/  (Ctrl-C to stop)")


async def run_demo(settings: Settings, options: DemoOptions, progress: Progress = print) -> int:
    """Run until SIGINT or SIGTERM; 0 after a clean stop."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    demo = Demo(settings, options, progress)
    async with demo.stack:
        startup = asyncio.create_task(demo.start(), name="demo:start")
        stopping = asyncio.create_task(stop.wait(), name="demo:signal")
        await asyncio.wait({startup, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if startup.done() and startup.exception() is None:
            await stopping
        startup.cancel()
        stopping.cancel()
        await asyncio.gather(startup, stopping, return_exceptions=True)
        progress("stopping: field, API, ingest (draining), broker, PostgreSQL")
        failure = startup.exception() if startup.done() and not startup.cancelled() else None
    progress("stopped")
    if failure is not None:
        raise failure
    return 0
