"""Discharge-limit presets (mg/L; pH as a range), from docs/field-facts.md §8.

GB 18918-2002 for municipal plant outlets (daily mean maxima; NH3-N for water above 12 °C; TP for
plants built from 2006), GB 8978-1996 class 3 and GB/T 31962-2015 grades A/B/C for enterprises
discharging into sewers. Per-point overrides in the registry take precedence.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    """An upper limit, and a lower one where the standard gives a range (pH)."""

    max: float | None
    min: float | None = None


_PH_6_9 = Limit(9.0, 6.0)

PRESETS: dict[str, dict[str, Limit]] = {
    "gb18918-1a": {
        "cod": Limit(50),
        "bod5": Limit(10),
        "ss": Limit(10),
        "tn": Limit(15),
        "nh3n": Limit(5),
        "tp": Limit(0.5),
        "ph": _PH_6_9,
    },
    "gb18918-1b": {
        "cod": Limit(60),
        "bod5": Limit(20),
        "ss": Limit(20),
        "tn": Limit(20),
        "nh3n": Limit(8),
        "tp": Limit(1),
        "ph": _PH_6_9,
    },
    "gb18918-2": {
        "cod": Limit(100),
        "bod5": Limit(30),
        "ss": Limit(30),
        "nh3n": Limit(25),
        "tp": Limit(3),
        "ph": _PH_6_9,
    },
    "gb18918-3": {
        "cod": Limit(120),
        "bod5": Limit(60),
        "ss": Limit(50),
        "tp": Limit(5),
        "ph": _PH_6_9,
    },
    "gb8978-3": {"cod": Limit(500), "bod5": Limit(300), "ss": Limit(400), "ph": _PH_6_9},
    "gbt31962-a": {
        "cod": Limit(500),
        "bod5": Limit(350),
        "ss": Limit(400),
        "nh3n": Limit(45),
        "tn": Limit(70),
        "tp": Limit(8),
        "ph": Limit(9.5, 6.5),
    },
    "gbt31962-b": {
        "cod": Limit(500),
        "bod5": Limit(350),
        "ss": Limit(400),
        "nh3n": Limit(45),
        "tn": Limit(70),
        "tp": Limit(8),
        "ph": Limit(9.5, 6.5),
    },
    "gbt31962-c": {
        "cod": Limit(300),
        "bod5": Limit(150),
        "ss": Limit(250),
        "nh3n": Limit(25),
        "tn": Limit(45),
        "tp": Limit(5),
        "ph": Limit(9.5, 6.5),
    },
}
