"""`wqmon demo`: everything in one process on a machine with nothing running.

Start (each step printed): a lock on the data folder, the ports (the same every run, see
`wqmon.demo.ports`), PostgreSQL in the data folder (unless `WQMON_DATABASE_URL` is set), an MQTT
5 broker (unless `WQMON_MQTT_URL` is set), migrate, import the example registry, the simulated
Modbus meters (before ingest polls them), the ingest service, the API, gateway API keys, the
rest of the simulated field, a backfill of history, the demo operator's key and the sign-in
link. Ctrl-C (SIGINT) or SIGTERM stops it all in reverse order: the field, the API, ingest
(drained), the broker, PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from wqmon.demo.ports import PortBook, any_free_port, bindable, require_free
from wqmon.errors import ConfigError
from wqmon.settings import Settings

if TYPE_CHECKING:
    from wqmon.simulators.runner import FieldRunner
    from wqmon.simulators.scenarios import Scenario

Progress = Callable[[str], None]
LOCK_FILE = "demo.lock"


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What `wqmon demo` was asked for."""

    data_dir: Path
    scenario: str = "city"
    seed: int = 1
    speed: float = 1.0
    backfill_days: float = 2.0
    registry: Path | None = None


def lock_data_dir(data_dir: Path) -> int:
    """An exclusive lock on the folder (released when the process ends, however it ends).

    Two demos on one folder would share one PostgreSQL cluster, and the second would stop the
    first one's server (it stops a server left running by a killed demo before it starts).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise ConfigError(
            f"another wqmon demo (PID {holder}) is using {data_dir}: stop it (Ctrl-C in its "
            "terminal), or give this one a folder of its own with --data-dir DIR"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


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
        self.sign_in = ""
        self.ports = PortBook(options.data_dir)
        self.scenario: Scenario | None = None
        self.runner: FieldRunner | None = None

    async def _blocking(self, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(func, *args)

    def _kept_port(self, name: str, preferred: int, setting: str) -> int:
        port, note = self.ports.choose(name, preferred)
        if note:
            self.say(f"{name}: {note}; set {setting} to use another server")
        return port

    async def start_database(self) -> None:
        if "database_url" in self.settings.model_fields_set:
            self.say(f"[1/7] PostgreSQL: using WQMON_DATABASE_URL ({self.settings.database_url})")
            return
        from wqmon.demo.postgres import EmbeddedPostgres  # noqa: PLC0415

        pg = EmbeddedPostgres(self.options.data_dir)
        kind = "with TimescaleDB" if pg.binaries.timescale else "plain tables"
        created = await self._blocking(pg.init)
        self.stack.callback(pg.stop)
        port = self._kept_port("postgres", 55432, "WQMON_DATABASE_URL")
        await self._blocking(pg.start, port)
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

        port = self._kept_port("mqtt", 1883, "WQMON_MQTT_URL")
        broker = EmbeddedBroker(self.options.data_dir / "mqtt", port)
        self.stack.callback(broker.stop)
        await self._blocking(broker.start)
        self.say(f"[2/7] MQTT 5 broker (rumqttd, in-process package): {broker.url}")
        self._update(mqtt_url=broker.url)

    async def prepare_database(self) -> None:
        from wqmon.registry.importer import import_file  # noqa: PLC0415
        from wqmon.store.migrate import migrate  # noqa: PLC0415

        mode = await self._blocking(migrate, self.settings)
        self.say(f"[3/7] schema migrated: {mode.describe()}")
        registry = self._registry()
        summary = await self._blocking(import_file, self.settings.database_url, registry)
        self.say(f"[4/7] registry {registry.name} imported: {summary.describe()}")

    def _registry(self) -> Path:
        from wqmon.simulators.scenarios import EXAMPLE_REGISTRY  # noqa: PLC0415

        return self.options.registry or EXAMPLE_REGISTRY

    def build_scenario(self) -> None:
        """The field, read from the registry file; its Modbus ports must be free (checked now,
        before anything starts: a second demo would otherwise fail halfway)."""
        from wqmon.simulators import scenarios  # noqa: PLC0415

        opts = self.options
        anchor = datetime.now(UTC).replace(microsecond=0)
        self.scenario = scenarios.build(
            opts.scenario, seed=opts.seed, anchor=anchor, registry=self._registry()
        )
        simulated = ("tcp", "rtu_over_tcp")  # serial lines are not simulated
        buses = {t.bus.id: t.bus for t in self.scenario.modbus if t.bus.transport in simulated}
        for bus in buses.values():
            require_free(
                bus.port,
                f"the simulated Modbus bus {bus.id} of {self._registry().name}",
                "is another wqmon demo running? Stop it, or run this one with --registry FILE "
                "whose modbus_buses use another port",
                host=bus.host or "127.0.0.1",
            )

    async def start_meters(self) -> None:
        """Gateway keys, the field's runner, and its Modbus servers: up before ingest polls."""
        from wqmon.api.keys import create_key  # noqa: PLC0415
        from wqmon.simulators.runner import FieldRunner, Targets  # noqa: PLC0415

        assert self.scenario is not None  # noqa: S101 - build_scenario() ran first
        tokens = {}
        for gateway in self.scenario.gateways:
            tokens[gateway.id] = await self._blocking(
                lambda g=gateway.id: create_key(
                    self.settings.database_url, name="demo-simulator", role="gateway", gateway=g
                )
            )
        from wqmon.simulators.simulate import logger_keys  # noqa: PLC0415

        # The encrypting HJ 212-2025 loggers' keys, so the platform can read them.
        await self._blocking(logger_keys, self.settings, self.scenario)
        targets = Targets(
            hj212_port=self.settings.hj212_port,
            mqtt_url=self.settings.mqtt_url,
            api_url=self._api_url(),
            gateway_tokens=tokens,
        )
        self.runner = FieldRunner(self.scenario, targets, speed=self.options.speed)
        self.stack.push_async_callback(self.runner.stop)
        await self.runner.start_modbus()

    def _api_url(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.api_port}"

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
                raise ConfigError(
                    f"the API did not start on port {self.settings.api_port}: "
                    "choose another with WQMON_API_PORT=N"
                )
            await asyncio.sleep(0.05)
        self.api_url = self._api_url()
        self.say(
            f"[5/7] ingest running (HJ 212 on {self.settings.hj212_host}:"
            f"{self.settings.hj212_port}, MQTT, HTTP, Modbus) and API on {self.api_url}"
        )

    async def start_field(self) -> None:
        runner, opts = self.runner, self.options
        assert runner is not None  # noqa: S101 - start_meters() ran first
        await runner.start()
        self.say(f"[6/7] field '{opts.scenario}' (seed {opts.seed}): {runner.summary()}")
        if opts.backfill_days > 0:
            sent = await runner.backfill(opts.backfill_days)
            self.say(f"[7/7] backfilled {opts.backfill_days:g} days of history ({sent} uploads)")
        else:
            self.say("[7/7] no backfill")
        runner.run()

    async def create_operator(self) -> None:
        from wqmon.demo.signin import demo_operator_key, sign_in_link  # noqa: PLC0415

        token, made = await self._blocking(
            demo_operator_key, self.settings.database_url, self.options.data_dir
        )
        self.sign_in = sign_in_link(self.api_url, token)
        kept = self.options.data_dir / "operator-key"
        self.say(f"operator key ({'new' if made else 'kept'}, in {kept}): {token}")

    def _update(self, **changes: Any) -> None:
        self.settings = self.settings.model_copy(update=changes)

    def _listener(self, setting: str, preferred: int, what: str) -> int:
        """A configured port must be free; the default moves when taken, and says so."""
        env = f"WQMON_{setting.upper()}"
        if setting in self.settings.model_fields_set:
            port = int(getattr(self.settings, setting))
            require_free(port, f"{env}, {what}", f"choose another with {env}=N")
            return port
        if bindable(preferred):
            return preferred
        port = any_free_port()
        self.say(f"port {preferred} ({what}) is taken: using {port} this run ({env}=N chooses)")
        return port

    def choose_ports(self) -> None:
        """Loopback listeners; 9212 and 8000 when free, unless configured."""
        given = self.settings.model_fields_set
        changes: dict[str, Any] = {
            "hj212_port": self._listener("hj212_port", 9212, "HJ 212 listener"),
            "api_port": self._listener("api_port", 8000, "the API and operator page"),
        }
        if "hj212_host" not in given:
            changes["hj212_host"] = "127.0.0.1"
        if "batch_linger_s" not in given:
            changes["batch_linger_s"] = 0.02  # the backfill waits for each 9014
        if "mqtt_client_id" not in given:
            changes["mqtt_client_id"] = "wqmon-demo"
        self._update(**changes)

    async def start(self) -> None:
        fd = lock_data_dir(self.options.data_dir)
        self.stack.callback(os.close, fd)
        self.choose_ports()
        self.build_scenario()
        await self.start_database()
        await self.start_broker()
        await self.prepare_database()
        await self.start_meters()
        await self.start_services()
        await self.start_field()
        await self.create_operator()
        self.say(f"wqmon demo is running: operator page {self.api_url}/  (Ctrl-C to stop)")
        self.say(f"sign in as the demo operator: open {self.sign_in}")


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
