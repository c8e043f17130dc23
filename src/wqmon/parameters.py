"""The parameter catalogue: HJ 212 codes, old HJ/T 212-2005 codes, ST=52 `e`-codes, aliases, units.

Every parameter is identified by its HJ 212-2017 code (`w01018` is COD). Drivers may name it by
an alias (`cod`), by the 2005 code (`011`), by a process `e`-code (`e10201` = inlet COD, device 01),
in any letter case. Values are converted to the canonical unit at the driver boundary:
concentration mg/L, flow m³/h, volume m³, load kg (docs/field-facts.md §6).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from wqmon.errors import RejectedReading


class Kind(StrEnum):
    """What a parameter measures; decides its unit family and how it aggregates."""

    FLOW = "flow"  # instantaneous flow rate, canonical m³/h
    TOTALISER = "totaliser"  # cumulative volume counter, canonical m³
    CONCENTRATION = "concentration"  # mg/L; load = C × V / 1000
    PH = "ph"  # dimensionless
    TEMPERATURE = "temperature"  # °C
    CONDUCTIVITY = "conductivity"  # µS/cm
    ELECTRICITY = "electricity"  # HJ 212-2025 ST=44: power and current of treatment equipment


@dataclass(frozen=True, slots=True)
class Parameter:
    """One monitored quantity of the catalogue."""

    code: str  # HJ 212-2017 code, the canonical name
    alias: str  # friendly name used in the registry and payloads
    name: str
    name_zh: str
    kind: Kind
    unit: str  # canonical unit
    plausible: tuple[float, float]  # values outside are rejected as implausible
    old_code: str | None = None  # HJ/T 212-2005 code


CATALOGUE: tuple[Parameter, ...] = (
    Parameter(
        "w00000", "flow", "wastewater flow", "废水流量", Kind.FLOW, "m3/h", (0, 200_000), "B01"
    ),
    Parameter("w00001", "totaliser", "flow totaliser", "累计流量", Kind.TOTALISER, "m3", (0, 1e12)),
    Parameter(
        "w01018",
        "cod",
        "COD (CODcr)",
        "化学需氧量",
        Kind.CONCENTRATION,
        "mg/L",
        (0, 100_000),
        "011",
    ),
    Parameter(
        "w21003", "nh3n", "ammonia nitrogen", "氨氮", Kind.CONCENTRATION, "mg/L", (0, 5_000), "060"
    ),
    Parameter(
        "w21011", "tp", "total phosphorus", "总磷", Kind.CONCENTRATION, "mg/L", (0, 1_000), "101"
    ),
    Parameter(
        "w21001", "tn", "total nitrogen", "总氮", Kind.CONCENTRATION, "mg/L", (0, 5_000), "065"
    ),
    Parameter("w01001", "ph", "pH", "pH值", Kind.PH, "pH", (0, 14), "001"),
    Parameter("w01010", "temp", "water temperature", "水温", Kind.TEMPERATURE, "degC", (-10, 100)),
    Parameter(
        "w01012",
        "ss",
        "suspended solids",
        "悬浮物",
        Kind.CONCENTRATION,
        "mg/L",
        (0, 100_000),
        "003",
    ),
    Parameter(
        "w01017", "bod5", "BOD5", "五日生化需氧量", Kind.CONCENTRATION, "mg/L", (0, 50_000), "010"
    ),
    Parameter(
        "w01019",
        "codmn",
        "permanganate index",
        "高锰酸盐指数",
        Kind.CONCENTRATION,
        "mg/L",
        (0, 10_000),
    ),
    Parameter(
        "w01020",
        "toc",
        "total organic carbon",
        "总有机碳",
        Kind.CONCENTRATION,
        "mg/L",
        (0, 50_000),
        "015",
    ),
    Parameter("w01009", "do", "dissolved oxygen", "溶解氧", Kind.CONCENTRATION, "mg/L", (0, 50)),
    Parameter(
        "w01014", "conductivity", "conductivity", "电导率", Kind.CONDUCTIVITY, "uS/cm", (0, 500_000)
    ),
    # HJ 212-2025 ST=44 electricity monitoring of treatment equipment (docs/hj212.md): the
    # packets name each facility by its own code, mapped per point (`hj212.codes`) to these. The
    # codes are wqmon's (`g44…`), not the standard's.
    Parameter(
        "g44001",
        "power",
        "equipment electric power",
        "设施用电功率",
        Kind.ELECTRICITY,
        "kW",
        (0, 1_000_000),
    ),
    Parameter(
        "g44002",
        "current",
        "equipment electric current",
        "设施用电电流",
        Kind.ELECTRICITY,
        "A",
        (0, 100_000),
    ),
)

# ST=52 process codes: e + process (1 inlet, 2 outlet) + item (2 digits) + device index (2 digits).
_E_ITEMS: dict[str, str] = {"01": "w00000", "02": "w01018", "03": "w21003", "04": "w21011"}
_E_ITEMS_INLET: dict[str, str] = {**_E_ITEMS, "05": "w21001", "06": "w01001"}
_E_ITEMS_OUTLET: dict[str, str] = {**_E_ITEMS, "05": "w01001"}
_E_CODE = re.compile(r"^e([12])(\d{2})(\d{2})$")
E_CODE_ROLES = {"1": "inlet", "2": "outlet"}

_BY_CODE = {p.code: p for p in CATALOGUE}
_BY_NAME: dict[str, Parameter] = {}
for _p in CATALOGUE:
    _BY_NAME[_p.code] = _p
    _BY_NAME[_p.alias] = _p
    if _p.old_code:
        _BY_NAME[_p.old_code.lower()] = _p
_BY_NAME.update(
    {"codcr": _BY_CODE["w01018"], "nh3-n": _BY_CODE["w21003"], "b11": _BY_CODE["w00001"]}
)


def parse_e_code(code: str) -> tuple[Parameter, str, int] | None:
    """Decode an ST=52 `e`-code into (parameter, point role, device index), or None."""
    match = _E_CODE.match(code.strip().lower())
    if match is None:
        return None
    process, item, index = match.groups()
    table = _E_ITEMS_INLET if process == "1" else _E_ITEMS_OUTLET
    code_2017 = table.get(item)
    if code_2017 is None:
        return None
    return _BY_CODE[code_2017], E_CODE_ROLES[process], int(index)


def lookup(name: str) -> Parameter | None:
    """Find a parameter by code, alias, old code or `e`-code, case-insensitively."""
    key = name.strip().lower()
    found = _BY_NAME.get(key)
    if found is not None:
        return found
    decoded = parse_e_code(key)
    return decoded[0] if decoded else None


def resolve(name: str) -> Parameter:
    """Like `lookup`, but an unknown name is a `RejectedReading('unknown_parameter')`."""
    found = lookup(name)
    if found is None:
        raise RejectedReading("unknown_parameter", f"unknown parameter {name!r}")
    return found


def by_code(code: str) -> Parameter:
    """The catalogue entry of a canonical HJ 212-2017 code (KeyError if absent)."""
    return _BY_CODE[code]


# Conversion factors into each canonical unit. Unit spellings are matched case-insensitively
# after removing spaces; `³` and `3` are the same.
_TO_CANONICAL: dict[str, dict[str, float]] = {
    "m3/h": {
        "m3/h": 1.0,
        "l/s": 3.6,
        "m3/s": 3600.0,
        "m3/d": 1 / 24,
        "t/h": 1.0,
        "t/d": 1 / 24,
        "l/min": 0.06,
        "m3/min": 60.0,
    },
    "m3": {"m3": 1.0, "l": 0.001, "t": 1.0},
    "mg/L": {"mg/l": 1.0, "g/m3": 1.0, "ug/l": 0.001, "µg/l": 0.001, "g/l": 1000.0, "ppm": 1.0},
    "pH": {"ph": 1.0, "": 1.0, "-": 1.0},
    "degC": {"degc": 1.0, "°c": 1.0, "c": 1.0, "℃": 1.0},
    "uS/cm": {"us/cm": 1.0, "µs/cm": 1.0, "ms/cm": 1000.0},
    "kW": {"kw": 1.0, "w": 0.001, "mw": 1000.0},
    "A": {"a": 1.0, "ma": 0.001, "ka": 1000.0},
}


def _spell(unit: str) -> str:
    return unit.replace(" ", "").replace("³", "3").lower()


@functools.lru_cache(maxsize=1024)
def conversion_factor(parameter: Parameter, unit: str | None) -> float:
    """Factor that turns a value in `unit` into the parameter's canonical unit.

    `None` means the value is already canonical. An unknown unit is rejected rather than guessed.
    """
    if unit is None:
        return 1.0
    factors = _TO_CANONICAL[parameter.unit]
    factor = factors.get(_spell(unit))
    if factor is None:
        raise RejectedReading(
            "unknown_unit",
            f"unit {unit!r} cannot be converted to {parameter.unit} for {parameter.alias}",
        )
    return factor


# HJ 212 sends flow in L/s (Rtd/Avg/Min/Max) and every other code in its canonical unit.
HJ212_NATIVE_UNITS: dict[str, str] = {"w00000": "L/s"}
