"""Registry validation: errors name the entry and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from wqmon.errors import ConfigError
from wqmon.registry.schema import parse_registry, resolve_limits

EXAMPLE = Path(__file__).parents[3] / "examples" / "registry.yaml"

BASE = """
regions:
  - {code: HZ, name: 海州区, kind: county}
sites:
  - code: WWTP-01
    kind: wwtp
    region: HZ
    points:
      - {code: inlet, role: inlet, parameters: [flow, cod]}
"""


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_registry(text, source="test.yaml")
    return str(info.value)


def test_example_registry_is_a_small_city() -> None:
    reg = parse_registry(EXAMPLE.read_text(encoding="utf-8"))
    kinds = [r.kind for r in reg.regions]
    assert kinds.count("county") == 2
    assert kinds.count("park") == 1
    plants = [s for s in reg.sites if s.kind == "wwtp"]
    assert len(plants) == 4
    for plant in plants:
        assert {p.role for p in plant.points} == {"inlet", "outlet"}
        for p in plant.points:
            assert set(p.parameters) == {"flow", "cod", "nh3n", "tp", "tn", "ph"}
    enterprises = [s for s in reg.sites if s.kind == "enterprise"]
    assert len(enterprises) == 6
    assert all(p.discharges_to == "sewer" for s in enterprises for p in s.points)
    assert len(reg.gateways) == 2


def test_unknown_key_names_its_place() -> None:
    msg = _error(BASE.replace("role: inlet,", "role: inlet, colour: red,"))
    assert "sites[0] (WWTP-01) → points[0] (inlet) → colour" in msg
    assert "Extra inputs are not permitted" in msg


def test_unknown_parameter_is_named() -> None:
    msg = _error(BASE.replace("[flow, cod]", "[flow, codx]"))
    assert "sites[0] (WWTP-01) → points[0] (inlet) → parameters" in msg
    assert "'codx'" in msg


def test_unknown_region_reference() -> None:
    msg = _error(BASE.replace("region: HZ", "region: XX"))
    assert "sites[0] (WWTP-01) → region: unknown region 'XX'" in msg


def test_unknown_preset_and_foreign_limit() -> None:
    msg = _error(BASE.replace("[flow, cod]}", "[flow, cod], limits: gb9999}"))
    assert "limits: unknown preset 'gb9999'" in msg
    msg = _error(BASE.replace("[flow, cod]}", "[flow, cod], limits: {tp: 1}}"))
    assert "does not measure" in msg


def test_duplicate_mn_and_site_codes() -> None:
    text = BASE.replace(
        "[flow, cod]}",
        "[flow, cod], hj212: {mn: M1, password: p}}\n      - {code: outlet, role: outlet, parameters: [cod], hj212: {mn: M1, password: p}}",
    )
    assert "'M1' is already used by sites[0] (WWTP-01) → points[0] (inlet)" in _error(text)


def test_bad_timezone_and_yaml() -> None:
    assert "unknown time zone" in _error(
        BASE.replace("region: HZ", "region: HZ\n    timezone: Mars/Base")
    )
    assert "not valid YAML" in _error("regions: [")


def test_limits_preset_with_override() -> None:
    reg = parse_registry(EXAMPLE.read_text(encoding="utf-8"))
    outlet = next(
        p for s in reg.sites if s.code == "WWTP-02" for p in s.points if p.code == "outlet"
    )
    limits = resolve_limits(outlet)
    assert limits["w01018"].max == 40  # overridden
    assert limits["w21003"].max == 5  # from gb18918-1a
    assert (limits["w01001"].min, limits["w01001"].max) == (6.0, 9.0)
