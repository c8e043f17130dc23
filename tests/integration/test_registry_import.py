"""`wqmon migrate` then `wqmon registry import` twice, on TimescaleDB and on plain PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "registry.yaml"
COUNTED = ["region", "region_year", "site", "point", "channel", "gateway", "gateway_site"]


def _wqmon(db_url: str, *args: str, timescale: str = "auto") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WQMON_DATABASE_URL": db_url, "WQMON_TIMESCALE": timescale}
    return subprocess.run(
        [sys.executable, "-m", "wqmon.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def _counts(db_url: str) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}  # type: ignore[index]


def _check_twice(db_url: str, timescale: str, mode_text: str) -> None:
    out = _wqmon(db_url, "migrate", timescale=timescale)
    assert mode_text in out.stdout
    first = _wqmon(db_url, "registry", "import", str(EXAMPLE), timescale=timescale)
    assert "site: 10 new" in first.stdout
    counts = _counts(db_url)
    _wqmon(db_url, "migrate", timescale=timescale)
    second = _wqmon(db_url, "registry", "import", str(EXAMPLE), timescale=timescale)
    assert "site: 0 new, 10 updated" in second.stdout
    assert _counts(db_url) == counts
    assert counts["site"] == 10
    assert counts["channel"] == 4 * 2 * 6 + (3 + 4 + 4 + 2 + 6 + 4)


def test_migrate_and_import_twice_on_timescaledb(empty_db_url: str) -> None:
    _check_twice(empty_db_url, "auto", "hypertable mode (TimescaleDB")


def test_migrate_and_import_twice_on_plain_postgresql(empty_db_url: str) -> None:
    _check_twice(empty_db_url, "off", "plain PostgreSQL mode")


def test_edited_registry_updates_in_place(db_url: str, tmp_path: Path) -> None:
    _wqmon(db_url, "registry", "import", str(EXAMPLE))
    edited = (
        EXAMPLE.read_text(encoding="utf-8")
        .replace(
            "parameters: [flow, cod], limits: gb8978-3}", "parameters: [flow], limits: gb8978-3}"
        )
        .replace("capacity_m3_per_day: 100000", "capacity_m3_per_day: 120000")
    )
    path = tmp_path / "edited.yaml"
    path.write_text(edited, encoding="utf-8")
    out = _wqmon(db_url, "registry", "import", str(path))
    assert "channels deactivated: 1" in out.stdout
    with psycopg.connect(db_url) as conn:
        cap = conn.execute("SELECT capacity_m3_per_day FROM site WHERE code = 'WWTP-01'").fetchone()
        inactive = conn.execute("SELECT count(*) FROM channel WHERE NOT active").fetchone()
    assert cap == (120000.0,)
    assert inactive == (1,)


def test_invalid_registry_exits_with_a_clear_message(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("sites:\n  - {code: X, kind: wwtp, region: NOPE}\n", encoding="utf-8")
    env = {**os.environ, "WQMON_DATABASE_URL": db_url}
    proc = subprocess.run(
        [sys.executable, "-m", "wqmon.cli", "registry", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "sites[0] (X) → region: unknown region 'NOPE'" in proc.stderr
    assert _counts(db_url)["site"] == 0
