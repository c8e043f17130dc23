"""The pymodbus meter simulator read through client.py + planner + codecs, over real transports.

Modbus TCP and RTU over TCP on 127.0.0.1 (port chosen by the OS), and RTU over a pair of
pseudo-terminals joined by `VirtualSerialLink`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from wqmon.drivers.modbus.client import Endpoint, ModbusClient, ModbusExceptionResponse
from wqmon.errors import DeviceUnavailable
from wqmon.protocol.modbus.config import Transport
from wqmon.protocol.modbus.planner import group_by_point, plan_profile, slice_response
from wqmon.protocol.modbus.profiles import (
    PointValue,
    Profile,
    RegisterType,
    decode_point,
    load_profile,
)
from wqmon.simulators.modbus_meter import ModbusMeterSimulator, SimulatedDevice, VirtualSerialLink

SHANGHAI = ZoneInfo("Asia/Shanghai")
SAMPLED_AT = datetime(2024, 1, 23, 3, 3, 6, tzinfo=UTC)

# device id -> (profile, {point: value})
FLEET: dict[int, tuple[str, dict[str, float]]] = {
    1: (
        "siemens-mag6000",
        {
            "flow": 0.125,
            "totaliser_1": 123456.789,
            "totaliser_2": 42.5,
            "totaliser_1_float": 2048.5,
            "totaliser_2_float": 7.25,
        },
    ),
    2: ("hach-cod", {"cod": 123.456}),
    3: ("eh-ca80-cod", {"cod": 27.3}),
    4: ("china-unified-analyser", {"value": 261.5}),
    5: ("krohne-ifc050", {"flow": 0.031, "totaliser": 98765.4321}),
    6: ("siemens-mag8000", {"flow": 410.0, "totaliser_1": 1234567, "totaliser_2": 89}),
    0x30: ("fpi-cod", {"cod": 48.9}),
}


def build_devices() -> list[SimulatedDevice]:
    devices = []
    for device_id, (name, values) in FLEET.items():
        device = SimulatedDevice(load_profile(name), device_id, tz=SHANGHAI)
        for point, value in values.items():
            device.set_value(point, value)
        devices.append(device)
    ca80 = devices[2]
    ca80.set_status("cod", "N")
    unified = devices[3]
    unified.set_status("value", "N")
    unified.set_sample_time("value", SAMPLED_AT)
    return devices


async def poll(client: ModbusClient, profile: Profile, device_id: int) -> dict[str, PointValue]:
    """What the polling driver will do per device: plan, read, slice, decode."""
    sliced = {}
    for request in plan_profile(profile):
        data = await client.read(request.register_type, request.address, request.count, device_id)
        sliced.update(slice_response(request, data))
    grouped = group_by_point(sliced)
    return {
        name: decode_point(profile, profile.point(name), blocks, SHANGHAI)
        for name, blocks in grouped.items()
    }


@pytest.fixture
async def simulator() -> AsyncIterator[ModbusMeterSimulator]:
    async with ModbusMeterSimulator(build_devices()) as sim:
        yield sim


@pytest.fixture
async def client(simulator: ModbusMeterSimulator) -> AsyncIterator[ModbusClient]:
    endpoint = Endpoint(port=simulator.port, timeout_s=0.3, retries=0)
    async with ModbusClient(endpoint) as modbus:
        yield modbus


def assert_values(readings: dict[str, PointValue], values: dict[str, float], rel: float) -> None:
    assert set(readings) == set(values)
    for point, expected in values.items():
        assert readings[point].flag == "N", point
        assert readings[point].value == pytest.approx(expected, rel=rel), point


@pytest.mark.parametrize("device_id", list(FLEET))
async def test_every_shipped_profile_reads_back_over_tcp(
    client: ModbusClient, device_id: int
) -> None:
    name, values = FLEET[device_id]
    readings = await poll(client, load_profile(name), device_id)
    assert_values(readings, values, rel=1e-6)  # float32 keeps ~7 significant digits


async def test_sample_time_and_status_come_through(client: ModbusClient) -> None:
    readings = await poll(client, load_profile("china-unified-analyser"), 4)
    assert readings["value"].sample_time == SAMPLED_AT


async def test_values_change_while_running(
    simulator: ModbusMeterSimulator, client: ModbusClient
) -> None:
    profile = load_profile("eh-ca80-cod")
    device = simulator.device(3)
    device.set_value("cod", 55.5)
    device.set_status("cod", "S")
    calibrating = (await poll(client, profile, 3))["cod"]
    assert (calibrating.value, calibrating.flag) == (55.5, "C")
    device.set_value("cod", math.nan)
    faulty = (await poll(client, profile, 3))["cod"]
    assert (faulty.value, faulty.flag) == (None, "D")


async def test_silent_device_id_is_unavailable(client: ModbusClient) -> None:
    with pytest.raises(DeviceUnavailable, match="device 99: no valid answer"):
        await client.read(RegisterType.HOLDING, 0, 2, 99)
    # The link still serves the devices that do answer.
    readings = await poll(client, load_profile("hach-cod"), 2)
    assert readings["cod"].value == pytest.approx(123.456, rel=1e-6)


async def test_gateway_answer_for_unknown_device_is_unavailable() -> None:
    async with (
        ModbusMeterSimulator(build_devices(), answer_unknown=True) as sim,
        ModbusClient(Endpoint(port=sim.port, timeout_s=0.3)) as modbus,
    ):
        with pytest.raises(DeviceUnavailable, match="exception 0x0b"):
            await modbus.read(RegisterType.HOLDING, 0, 2, 99)


async def test_illegal_address_is_a_permanent_error(client: ModbusClient) -> None:
    with pytest.raises(ModbusExceptionResponse, match="illegal data address") as caught:
        await client.read(RegisterType.HOLDING, 65500, 100, 2)
    assert (caught.value.code, caught.value.function_code, caught.value.device_id) == (2, 3, 2)


async def test_server_stop_then_restart(
    simulator: ModbusMeterSimulator, client: ModbusClient
) -> None:
    profile = load_profile("hach-cod")
    assert (await poll(client, profile, 2))["cod"].flag == "N"
    await simulator.stop()
    with pytest.raises(DeviceUnavailable):
        await poll(client, profile, 2)
    with pytest.raises(DeviceUnavailable, match="cannot connect"):
        await poll(client, profile, 2)
    await simulator.start()  # same port as before
    readings = await poll(client, profile, 2)  # the client reconnects on demand
    assert readings["cod"].value == pytest.approx(123.456, rel=1e-6)
    assert client.connected


async def test_connect_to_nothing_is_unavailable(simulator: ModbusMeterSimulator) -> None:
    port = simulator.port
    await simulator.stop()
    modbus = ModbusClient(Endpoint(port=port, timeout_s=0.3))
    with pytest.raises(DeviceUnavailable, match=f"tcp://127.0.0.1:{port}: cannot connect"):
        await modbus.connect()
    modbus.close()


async def test_rtu_over_tcp() -> None:
    devices = build_devices()
    async with ModbusMeterSimulator(devices, transport=Transport.RTU_OVER_TCP) as sim:
        endpoint = Endpoint(transport=Transport.RTU_OVER_TCP, port=sim.port, timeout_s=0.3)
        async with ModbusClient(endpoint) as modbus:
            readings = await poll(modbus, load_profile("siemens-mag6000"), 1)
    assert_values(readings, FLEET[1][1], rel=1e-6)


async def test_rtu_over_a_pseudo_terminal_pair() -> None:
    with VirtualSerialLink() as link:
        devices = build_devices()
        async with ModbusMeterSimulator(
            devices, transport=Transport.RTU, serial_port=link.port_a, baudrate=19200
        ):
            endpoint = Endpoint(
                transport=Transport.RTU, serial_port=link.port_b, baudrate=19200, timeout_s=0.5
            )
            async with ModbusClient(endpoint) as modbus:
                assert modbus.endpoint.label == f"rtu:{link.port_b}"
                unified = await poll(modbus, load_profile("china-unified-analyser"), 4)
                fpi = await poll(modbus, load_profile("fpi-cod"), 0x30)
                with pytest.raises(DeviceUnavailable):
                    await modbus.read(RegisterType.HOLDING, 0, 1, 77)  # silent slave
                after_silence = await poll(modbus, load_profile("hach-cod"), 2)
    assert unified["value"].value == pytest.approx(261.5)
    assert unified["value"].sample_time == SAMPLED_AT
    assert fpi["cod"].value == pytest.approx(48.9, rel=1e-6)
    assert after_silence["cod"].value == pytest.approx(123.456, rel=1e-6)
