"""The Modbus polling driver end to end: pymodbus simulators on loopback → pipeline → TimescaleDB.

The registry is examples/registry.yaml plus a small file of our own that binds simulated meters
(real TCP servers on 127.0.0.1, ports chosen by the OS; RTU over a pseudo-terminal pair) to the
points of an example site. Tests wait on the driver's own progress (`wait_for`), never on time.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from wqmon.drivers.modbus.config import ModbusDriverConfig
from wqmon.drivers.modbus.driver import ModbusDriver, snapshot
from wqmon.drivers.modbus.poller import DeviceState
from wqmon.protocol.modbus.profiles import load_profile
from wqmon.registry.importer import import_file
from wqmon.services.ingest import IngestService
from wqmon.settings import Settings
from wqmon.simulators.modbus_meter import (
    ModbusMeterSimulator,
    SimulatedDevice,
    Transport,
    VirtualSerialLink,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BASE = Path(__file__).parents[2] / "examples" / "registry.yaml"
States = Mapping[str, DeviceState]
UNTIL_S = 30


def _registry(tmp_path: Path, buses: str, bindings: str) -> Path:
    """examples/registry.yaml with WWTP-01's inlet polled over Modbus instead of the example bus."""
    text = BASE.read_text(encoding="utf-8")
    text = text.replace("modbus_buses:\n", f"modbus_buses:\n{buses}", 1)
    marker = '        hj212: {mn: "010000A8900016F000169DC0", password: "123456"}\n'
    assert marker in text
    text = text.replace(marker, marker + f"        modbus:\n{bindings}", 1)
    # The example's own bus points at a loopback port nobody serves here: drop its bindings.
    start = text.index("        # No data logger here")
    end = text.index("  - code: ENT-04")
    path = tmp_path / "registry.yaml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    return path


def _tcp_bus(bus_id: str, port: int, transport: str = "tcp") -> str:
    return (
        f"  - {{id: {bus_id}, transport: {transport}, host: 127.0.0.1, port: {port},"
        " timeout_s: 0.3, retries: 0, message_wait_ms: 5, poll_interval_s: 0.1}\n"
    )


@dataclass
class Rig:
    db_url: str
    service: IngestService
    driver: ModbusDriver

    async def until(self, predicate: Callable[[States], bool]) -> None:
        try:
            async with asyncio.timeout(UNTIL_S):  # a safety net against hangs, not a measurement
                await self.driver.wait_for(predicate)
        except TimeoutError:
            pytest.fail(f"condition never held; device state: {snapshot(self.driver)}")

    def rows(self, parameter: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db_url) as conn:
            return conn.execute(
                """SELECT r.ts, r.value, r.flag, r.source FROM reading r
                   JOIN channel c ON c.id = r.channel_id JOIN point p ON p.id = c.point_id
                   JOIN site s ON s.id = p.site_id
                   WHERE s.code = 'WWTP-01' AND p.code = 'inlet' AND c.parameter = %s
                   ORDER BY r.ts""",
                (parameter,),
            ).fetchall()


async def _rig(db_url: str, registry: Path) -> AsyncIterator[Rig]:
    import_file(db_url, registry)
    settings = Settings(database_url=db_url, batch_linger_s=0.02, hj212_enabled=False)
    driver = ModbusDriver(ModbusDriverConfig(reload_check_s=0.05))
    service = IngestService(settings, [driver])
    await service.start()
    try:
        yield Rig(db_url, service, driver)
    finally:
        await service.stop()


def stored(key: str, n: int) -> Callable[[States], bool]:
    return lambda states: key in states and states[key].stored >= n


def failing(key: str, n: int) -> Callable[[States], bool]:
    return lambda states: key in states and states[key].consecutive_errors >= n


def polls(key: str, n: int) -> Callable[[States], bool]:
    return lambda states: key in states and states[key].polls >= n


@pytest.fixture
async def fleet() -> AsyncIterator[ModbusMeterSimulator]:
    """Modbus TCP: a MAG 6000 (id 1), a Hach COD (id 2) and a unified NH3-N analyser (id 3)."""
    mag = SimulatedDevice(load_profile("siemens-mag6000"), 1, tz=SHANGHAI)
    mag.set_value("flow", 0.125)  # m³/s = 450 m³/h
    hach = SimulatedDevice(load_profile("hach-cod"), 2, tz=SHANGHAI)
    hach.set_value("cod", 312.5)
    unified = SimulatedDevice(load_profile("china-unified-analyser"), 3, tz=SHANGHAI)
    unified.set_value("value", 28.25)
    unified.set_status("value", "N")
    unified.set_sample_time("value", datetime(2025, 3, 1, 6, 0, tzinfo=UTC))
    async with ModbusMeterSimulator([mag, hach, unified]) as sim:
        yield sim


BINDINGS = (
    "          - {bus: plant, device_id: 1, profile: siemens-mag6000}\n"
    "          - {bus: plant, device_id: 2, profile: hach-cod}\n"
    "          - {bus: plant, device_id: 3, profile: china-unified-analyser, map: {value: nh3n}}\n"
)


async def test_values_units_flags_and_times_land_in_timescaledb(
    db_url: str, tmp_path: Path, fleet: ModbusMeterSimulator
) -> None:
    registry = _registry(tmp_path, _tcp_bus("plant", fleet.port), BINDINGS)
    async for rig in _rig(db_url, registry):
        await rig.until(lambda s: all(polls(k, 3)(s) for k in ("plant/1", "plant/2", "plant/3")))
        # Hach: unchanged COD is not stored again; a new result is, at its poll time.
        fleet.device(2).set_value("cod", 287.0)
        new_sample = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
        fleet.device(3).set_value("value", 31.5)
        fleet.device(3).set_status("value", "M")
        fleet.device(3).set_sample_time("value", new_sample)
        await rig.until(lambda s: stored("plant/2", 2)(s) and stored("plant/3", 2)(s))
        await rig.until(stored("plant/1", 5))
        state = rig.driver.state
    flows = rig.rows("w00000")
    assert len(flows) >= 5  # flow is stored every poll, even when steady
    assert {(round(v, 6), f, src) for _ts, v, f, src in flows} == {(450.0, "N", "modbus")}
    cods = rig.rows("w01018")
    assert [(v, f) for _ts, v, f, _src in cods] == [(312.5, "N"), (287.0, "N")]
    assert state["plant/2"].polls > 2  # polled more often than it was stored
    nh3n = rig.rows("w21003")
    assert [(ts, v, f) for ts, v, f, _src in nh3n] == [
        (datetime(2025, 3, 1, 6, 0, tzinfo=UTC), 28.25, "N"),
        (new_sample, 31.5, "M"),
    ]
    assert all(s["available"] and s["rejected"] == 0 for s in snapshot(rig.driver).values())


async def test_nan_is_stored_as_fault_with_the_last_good_value(
    db_url: str, tmp_path: Path, fleet: ModbusMeterSimulator
) -> None:
    registry = _registry(tmp_path, _tcp_bus("plant", fleet.port), BINDINGS)
    async for rig in _rig(db_url, registry):
        await rig.until(stored("plant/2", 1))
        fleet.device(2).set_value("cod", math.nan)
        await rig.until(stored("plant/2", 2))
    assert [(v, f) for _ts, v, f, _src in rig.rows("w01018")] == [(312.5, "N"), (312.5, "D")]


async def test_a_device_silent_from_the_start_stores_no_reading_and_is_down(
    db_url: str, tmp_path: Path, fleet: ModbusMeterSimulator
) -> None:
    bindings = BINDINGS.replace(
        "device_id: 2, profile: hach-cod", "device_id: 9, profile: hach-cod"
    )
    registry = _registry(tmp_path, _tcp_bus("plant", fleet.port), bindings)
    async for rig in _rig(db_url, registry):
        await rig.until(failing("plant/9", 3))
        flow_polls = rig.driver.state["plant/1"].polls
        await rig.until(failing("plant/9", 5))
        dead, alive = rig.driver.state["plant/9"], rig.driver.state["plant/1"]
        # The MAG 6000 on the same line kept being polled, and answered, while id 9 timed out.
        assert alive.polls > flow_polls
        assert alive.consecutive_errors == 0
        assert alive.last_good_poll is not None
        assert not dead.available
        assert "no valid answer" in (dead.last_error or "")
        assert dead.link_down_since is not None
        assert alive.link_down_since is None
        telemetry = rig.service.telemetry
        assert telemetry.value("wqmon_modbus_device_up", component="modbus", device="plant/9") == 0
        assert telemetry.value("wqmon_modbus_device_up", component="modbus", device="plant/1") == 1
        assert dead.emitted == 0
    # Never measured, never stored: no 0.0 flagged B stands in for a value (ADR 0011).
    assert rig.rows("w01018") == []


async def test_polling_resumes_after_the_server_restarts(
    db_url: str, tmp_path: Path, fleet: ModbusMeterSimulator
) -> None:
    registry = _registry(tmp_path, _tcp_bus("plant", fleet.port), BINDINGS)
    async for rig in _rig(db_url, registry):
        await rig.until(stored("plant/1", 2))
        await fleet.stop()
        await rig.until(failing("plant/1", 2))
        await rig.until(lambda s: s["plant/1"].stored >= s["plant/1"].emitted)
        outage_b = [r for r in rig.rows("w00000") if r[2] == "B"]
        fleet.device(1).set_value("flow", 0.25)
        await fleet.start()
        await rig.until(lambda s: s["plant/1"].consecutive_errors == 0 and s["plant/1"].polls > 0)
        await rig.until(lambda s: s["plant/1"].stored >= s["plant/1"].emitted)
    flows = rig.rows("w00000")
    assert outage_b  # every failed poll of a flow meter is a B reading
    assert all(v == pytest.approx(450.0) for _ts, v, f, _src in flows if f == "B")
    assert flows[-1][1:3] == (pytest.approx(900.0), "N")  # 0.25 m³/s after the restart
    assert [f for _ts, _v, f, _src in flows].index("B") > 0


async def test_rtu_over_a_pseudo_terminal_pair_into_the_database(
    db_url: str, tmp_path: Path
) -> None:
    hach = SimulatedDevice(load_profile("hach-cod"), 2, tz=SHANGHAI)
    hach.set_value("cod", 123.456)
    with VirtualSerialLink() as link:
        sim = ModbusMeterSimulator([hach], transport=Transport.RTU, serial_port=link.port_a)
        async with sim:
            bus = (
                f"  - {{id: line, transport: rtu, serial_port: {link.port_b}, baudrate: 19200,"
                " timeout_s: 0.5, retries: 1, poll_interval_s: 0.1}\n"
            )
            bindings = "          - {bus: line, device_id: 2, profile: hach-cod}\n"
            async for rig in _rig(db_url, _registry(tmp_path, bus, bindings)):
                await rig.until(stored("line/2", 1))
    assert [(round(v, 3), f) for _ts, v, f, _src in rig.rows("w01018")] == [(123.456, "N")]


async def test_registry_reload_rebinds_devices(
    db_url: str, tmp_path: Path, fleet: ModbusMeterSimulator
) -> None:
    first = "          - {bus: plant, device_id: 2, profile: hach-cod}\n"
    async for rig in _rig(db_url, _registry(tmp_path, _tcp_bus("plant", fleet.port), first)):
        await rig.until(stored("plant/2", 1))
        assert set(rig.driver.state) == {"plant/2"}
        # In a thread: a blocking import on the event loop would stall the service under test
        # (its writer, its alarm feeder) while the import may wait on their transactions.
        registry = _registry(tmp_path, _tcp_bus("plant", fleet.port), BINDINGS)
        await asyncio.to_thread(import_file, db_url, registry)
        await rig.service.reload_directory()
        await rig.until(stored("plant/1", 1))
        assert set(rig.driver.state) == {"plant/1", "plant/2", "plant/3"}
        assert rig.driver.state["plant/2"].stored == 1  # memory kept: COD not stored twice
    assert len(rig.rows("w01018")) == 1


async def test_rtu_over_tcp_bus_with_the_example_shape(db_url: str, tmp_path: Path) -> None:
    mag = SimulatedDevice(load_profile("siemens-mag6000"), 1, tz=SHANGHAI)
    mag.set_value("flow", 0.0125)
    async with ModbusMeterSimulator([mag], transport=Transport.RTU_OVER_TCP) as sim:
        bus = _tcp_bus("serial-server", sim.port, "rtu_over_tcp")
        bindings = "          - {bus: serial-server, device_id: 1, profile: siemens-mag6000}\n"
        async for rig in _rig(db_url, _registry(tmp_path, bus, bindings)):
            await rig.until(stored("serial-server/1", 1))
    ts, value, flag, _src = rig.rows("w00000")[0]
    assert (value, flag) == (pytest.approx(45.0), "N")
    assert abs(datetime.now(UTC) - ts) < timedelta(minutes=5)  # stamped with the poll time
