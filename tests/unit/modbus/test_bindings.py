"""Registry Modbus bindings: shape, references to buses and profiles, point maps."""

from __future__ import annotations

import pytest

from wqmon.errors import ConfigError
from wqmon.protocol.modbus.bindings import resolve_map
from wqmon.protocol.modbus.profiles import load_profile
from wqmon.registry.schema import parse_registry

BASE = """
regions:
  - {code: HZ, name: 海州区, kind: county}
modbus_buses:
  - {id: line1, transport: rtu_over_tcp, host: 127.0.0.1, port: 4001}
sites:
  - code: ENT
    kind: enterprise
    region: HZ
    points:
      - code: outfall
        role: discharge
        parameters: [flow, cod, nh3n]
        modbus:
          - {bus: line1, device_id: 1, profile: siemens-mag6000}
          - {bus: line1, device_id: 2, profile: china-unified-analyser, map: {value: nh3n}}
"""


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_registry(text, source="t.yaml")
    return str(info.value)


def test_valid_bindings_and_bus_defaults() -> None:
    reg = parse_registry(BASE)
    bus = reg.modbus_buses[0]
    assert bus.message_wait_s == 0.03  # serial line behind a TCP server: RS-485 turnaround
    assert bus.retries == 1
    assert [d.profile for d in reg.sites[0].points[0].modbus] == [
        "siemens-mag6000",
        "china-unified-analyser",
    ]


def test_default_map_takes_the_point_parameters_only() -> None:
    assert resolve_map(load_profile("siemens-mag6000"), ["flow", "cod"], None) == {"flow": "w00000"}
    assert resolve_map(load_profile("siemens-mag6000"), ["flow", "totaliser"], None) == {
        "flow": "w00000",
        "totaliser_1": "w00001",  # the first totaliser only: one channel per parameter
    }


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("bus: line1, device_id: 1", "bus: nope, device_id: 1", "unknown Modbus bus 'nope'"),
        ("profile: siemens-mag6000", "profile: no-such-meter", "unknown Modbus profile"),
        ("map: {value: nh3n}", "map: {value: tp}", "the point does not measure tp"),
        ("map: {value: nh3n}", "map: {valu: nh3n}", "has no point 'valu'"),
        ("device_id: 2", "device_id: 1", "is already bound by"),
        ("map: {value: nh3n}", "map: {value: flow}", "w00000 is already fed by"),
        ("parameters: [flow, cod, nh3n]", "parameters: [ph]", "matches the point's parameters"),
        ("host: 127.0.0.1, ", "", "transport rtu_over_tcp needs host"),
        ("port: 4001}", "port: 4001, colour: red}", "Extra inputs are not permitted"),
    ],
)
def test_bad_bindings_name_their_place(old: str, new: str, message: str) -> None:
    assert old in BASE
    msg = _error(BASE.replace(old, new, 1))
    assert message in msg
    assert "modbus" in msg
