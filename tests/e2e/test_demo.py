"""The README's first command, as a new user runs it: `scripts/demo` with a fresh data folder.

It must start everything, show readings from every protocol and the scripted alarms (a
low-concentration influent at WWTP-03, a COD exceedance at WWTP-01's outlet), stop cleanly on
SIGINT (exit 0, no process left: the demo's children nor the PostgreSQL it started), and reuse
the data folder on a second run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.services import free_port

REPO = Path(__file__).resolve().parents[2]
STARTUP_S = 420.0  # scripts/setup may install the virtualenv's packages first
RUNNING = re.compile(r"operator page (http://\S+)/")
PG_PORT = re.compile(r"\[1/7\] PostgreSQL .* port (\d+)")


class DemoProcess:
    """`scripts/demo` as a subprocess, its output collected by a thread."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WQMON_")}
        env |= {"WQMON_API_PORT": str(free_port()), "WQMON_HJ212_PORT": str(free_port())}
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            ["bash", "scripts/demo", "--data-dir", str(data_dir), *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: re.Pattern[str], timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := pattern.search(line):
                    return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no {pattern.pattern!r} in the output:\n" + "\n".join(self.lines))

    def cleanup(self) -> None:
        """After a failed assertion: stop the demo (SIGINT, then SIGKILL) so nothing leaks."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(120)
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def children(pid: int) -> set[int]:
    """Every descendant of `pid` now (from /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        path = Path(f"/proc/{current}/task/{current}/children")
        try:
            kids = {int(k) for k in path.read_text().split()}
        except OSError:
            continue
        found |= kids
        todo.extend(kids)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def poll(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(1.0)
    return check()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Under /tmp and world-traversable: as root the demo's PostgreSQL runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="wqmon-demo-"))
    root.chmod(0o755)
    yield root / "demo"
    shutil.rmtree(root, ignore_errors=True)


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return list(conn.execute(sql).fetchall())


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_demo_runs_the_city_and_stops_cleanly(data_dir: Path) -> None:
    demo = DemoProcess(data_dir)
    try:
        check_first_run(demo, data_dir)
    finally:
        demo.cleanup()
    again = DemoProcess(data_dir, "--backfill-days", "0")
    try:
        assert "reusing" in again.wait_for(PG_PORT, STARTUP_S).group(0)
        again.wait_for(RUNNING, STARTUP_S)
        assert again.interrupt() == 0, "\n".join(again.lines)
    finally:
        again.cleanup()


def check_first_run(demo: DemoProcess, data_dir: Path) -> None:
    api = demo.wait_for(RUNNING, STARTUP_S).group(1)
    db = f"postgresql://postgres@127.0.0.1:{demo.wait_for(PG_PORT, 1).group(1)}/wqmon"
    postmaster = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    processes = children(demo.proc.pid) | {postmaster} | children(postmaster)

    with urllib.request.urlopen(f"{api}/health", timeout=10) as response:  # noqa: S310
        assert response.status == 200
    with urllib.request.urlopen(f"{api}/", timeout=10) as response:  # noqa: S310
        assert response.status == 200

    def sources() -> set[object]:
        return {row[0] for row in query(db, "SELECT DISTINCT source FROM reading")}

    expected = {"hj212", "mqtt", "http"}
    if importlib.util.find_spec("wqmon.drivers.modbus.driver") is not None:
        expected.add("modbus")  # the example registry binds ENT-03's meters to a Modbus bus
    assert poll(lambda: sources() >= expected, 120), sources()

    def rules() -> set[tuple[object, object]]:
        return set(query(db, "SELECT rule, target FROM alarm WHERE cleared_at IS NULL"))

    def scripted_alarms() -> bool:
        open_alarms = rules()
        low = any(
            str(rule).startswith("low_influent") and str(target).startswith("WWTP-03/inlet")
            for rule, target in open_alarms
        )
        return low and ("exceedance_hour", "WWTP-01/outlet/cod") in open_alarms

    assert poll(scripted_alarms, 180), rules()
    live = query(db, "SELECT count(*) FROM reading WHERE received_at > now() - interval '5 min'")
    assert live[0][0] > 0

    assert demo.interrupt() == 0, "\n".join(demo.lines)
    assert "demo: stopped" in demo.lines
    assert [pid for pid in processes if alive(pid)] == []
