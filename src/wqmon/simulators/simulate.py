"""`wqmon simulate SCENARIO`: a simulated field reporting to a running wqmon.

The field sends to the configured listeners: HJ 212 to `WQMON_HJ212_PORT` (or `--hj212`), MQTT
to `WQMON_MQTT_URL`, HTTP pushes to the API (`--api-url`) with `--api-key` or, without one, a
gateway key per registry gateway created in `WQMON_DATABASE_URL`. Modbus servers listen where
the registry's buses say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from wqmon.settings import Settings
from wqmon.simulators import scenarios
from wqmon.simulators.runner import FieldRunner, Targets

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimulateOptions:
    """The command line of `wqmon simulate`."""

    scenario: str
    seed: int = 1
    speed: float = 1.0
    backfill_days: float = 0.0
    registry: Path = scenarios.EXAMPLE_REGISTRY
    hj212_host: str = "127.0.0.1"
    hj212_port: int | None = None
    api_url: str | None = None
    api_key: str | None = None
    modbus: bool = True
    interval_s: float = 30.0
    duration_s: float | None = None  # None: until SIGINT/SIGTERM


def gateway_tokens(
    settings: Settings, scenario: scenarios.Scenario, api_key: str | None
) -> dict[str, str]:
    """One API key per HTTP gateway: the given one, or new ones from the database."""
    from wqmon.api.keys import create_key  # noqa: PLC0415 - only when keys are made here

    tokens = {}
    for gateway in scenario.gateways:
        if api_key is not None:
            tokens[gateway.id] = api_key
            continue
        try:
            tokens[gateway.id] = create_key(
                settings.database_url, name="simulator", role="gateway", gateway=gateway.id
            )
        except (psycopg.Error, ValueError) as exc:
            log.warning("no API key for gateway %s: %s", gateway.id, exc)
    return tokens


def logger_keys(settings: Settings, scenario: scenarios.Scenario) -> int:
    """Set the encrypting 2025 loggers' keys in the platform's database (never printed)."""
    from wqmon.store.hj212_keys import ensure_keys  # noqa: PLC0415

    keys = {t.mn: t.key for t in scenario.loggers if t.key is not None}
    try:
        return ensure_keys(settings.database_url, keys, datetime.now(UTC))
    except psycopg.Error as exc:
        log.warning("HJ 212-2025 keys not set (%s): encrypted loggers will be refused", exc)
        return 0


async def simulate(
    settings: Settings, options: SimulateOptions, progress: Callable[[str], None] = print
) -> int:
    """Run the field until signalled (or for `duration_s`); 0 after a clean stop."""
    anchor = datetime.now(UTC).replace(microsecond=0)
    scenario = scenarios.build(
        options.scenario, seed=options.seed, anchor=anchor, registry=options.registry
    )
    api_url = options.api_url or f"http://127.0.0.1:{settings.api_port}"
    tokens = await asyncio.to_thread(gateway_tokens, settings, scenario, options.api_key)
    await asyncio.to_thread(logger_keys, settings, scenario)
    targets = Targets(
        hj212_host=options.hj212_host,
        hj212_port=options.hj212_port or settings.hj212_port,
        mqtt_url=settings.mqtt_url,
        api_url=api_url,
        gateway_tokens=tokens,
        modbus=options.modbus,
    )
    runner = FieldRunner(scenario, targets, speed=options.speed, interval_s=options.interval_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runner.start()
        progress(f"simulate {options.scenario} (seed {options.seed}): {runner.summary()}")
        if options.backfill_days > 0:
            sent = await runner.backfill(options.backfill_days)
            progress(f"backfilled {options.backfill_days:g} days ({sent} uploads)")
        runner.run()
        progress(f"reporting live at {options.speed:g}x (Ctrl-C to stop)")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), options.duration_s)
    finally:
        await runner.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0
