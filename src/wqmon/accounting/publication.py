"""What the public sees: each region's yearly progress and the lagging regions and parks, from
approved accounts only (the newest approved version of each region-year).

A region lags in a year when its collection rate is below the target in force: 80 % (the
2025 target) up to 2029, 95 % (the 2030 target) from 2030 (docs/accounting.md §6).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from wqmon.accounting.figures import Json
from wqmon.balance.regions import DEFAULT_REGION_SETTINGS
from wqmon.balance.store import Conn

_APPROVED = """
SELECT DISTINCT ON (v.region_code, v.year) v.region_code, r.name, r.kind, r.parent_code, v.year,
       v.version, v.decided_at, v.snapshot
FROM account_version v JOIN region r ON r.code = v.region_code
WHERE v.state = 'approved' AND (%s::int IS NULL OR v.year = %s)
ORDER BY v.region_code, v.year, v.version DESC
"""


def target_in_force(year: int) -> float:
    """The collection rate a region must reach in a year to not lag: the newest target whose
    year has come, or the first target before then."""
    targets = sorted(DEFAULT_REGION_SETTINGS.targets)
    rate = targets[0][1]
    for target_year, target_rate in targets:
        if year >= target_year:
            rate = target_rate
    return rate


def progress(conn: Conn, year: int | None = None) -> Json:
    """Every approved region-year (optionally one year) and the laggards among them."""
    rows: list[Json] = []
    for code, name, kind, parent, y, version, decided, snap in conn.execute(
        _APPROVED, (year, year)
    ):
        figures = snap["figures"]
        rate = figures["collection_rate"]["value"]
        target = target_in_force(int(y))
        rows.append(
            {
                "region": code,
                "name": name,
                "kind": kind,
                "parent": parent,
                "year": int(y),
                "version": int(version),
                "approved_at": decided.isoformat() if decided else None,
                "produced_kg": figures["produced_kg"]["value"],
                "collected_kg": figures["collected_kg"]["value"],
                "reduced_kg": figures["reduced_kg"]["value"],
                "collection_rate": rate,
                "collection_reduction_rate": figures["collection_reduction_rate"]["value"],
                "collected_coverage": figures["collected_kg"]["coverage"],
                "target_rate": target,
                "lagging": rate is None or rate < target,
                "actions": snap["decision"]["actions"],
                "plants_below_260": [p["site"] for p in snap["plants"] if p["below_260"]],
            }
        )
    rows.sort(key=lambda r: (r["year"], r["region"]))
    lagging = [r for r in rows if r["lagging"]]
    return {
        "year": year,
        "regions": rows,
        "lagging_regions": [r for r in lagging if r["kind"] != "park"],
        "lagging_parks": [r for r in lagging if r["kind"] == "park"],
    }


COLUMNS = (
    "year",
    "region",
    "name",
    "kind",
    "version",
    "produced_kg",
    "collected_kg",
    "reduced_kg",
    "collection_rate",
    "collection_reduction_rate",
    "target_rate",
    "lagging",
    "actions",
)


def progress_csv(body: Json) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in body["regions"]:
        values: list[Any] = [row[c] for c in COLUMNS]
        values[-1] = " ".join(row["actions"])
        writer.writerow(values)
    return out.getvalue()
