"""The README's first command, as a new user runs it: `scripts/demo` with a fresh data folder.

It must start everything, show readings from every protocol and the scripted alarms (a
low-concentration influent at WWTP-03, a COD exceedance at WWTP-01's outlet), print a sign-in
link that opens the page signed in with those alarms on it (in readable Chinese and in English),
stop cleanly on a terminal's Ctrl-C (SIGINT to the whole process group: exit 0, no traceback
from any child, no process left), and reuse the data folder on a second run with the same
ports and key. A demo started while one runs says in one line why it cannot, and exits 2.
"""

from __future__ import annotations

import asyncio
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

from tests.fixtures.browser import assert_chinese_renders, browser_page
from tests.fixtures.services import free_port

REPO = Path(__file__).resolve().parents[2]
STARTUP_S = 420.0  # scripts/setup may install the virtualenv's packages first
RUNNING = re.compile(r"operator page (http://\S+)/")
PG_PORT = re.compile(r"\[1/7\] PostgreSQL .* port (\d+)")
MQTT_URL = re.compile(r"\[2/7\] MQTT 5 broker .*: (mqtt://\S+)")
SIGN_IN = re.compile(r"sign in as the demo operator: open (http://\S+/#key=(wqm_\S+))")


class DemoProcess:
    """`scripts/demo` as a subprocess, its output collected by a thread."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WQMON_")}
        env |= {"WQMON_API_PORT": str(free_port()), "WQMON_HJ212_PORT": str(free_port())}
        self.lines: list[str] = []
        # A session of its own, as a terminal gives it: Ctrl-C there signals the whole group.
        self.proc = subprocess.Popen(
            ["bash", "scripts/demo", "--data-dir", str(data_dir), *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
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

    def finish(self, timeout_s: float) -> int:
        code = self.proc.wait(timeout_s)
        self._reader.join(10)
        return code

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
        """Ctrl-C in the demo's terminal: SIGINT to its process group (bash's exec'd wqmon,
        the rollup and alarm workers; PostgreSQL and the broker run in sessions of their own)."""
        os.killpg(self.proc.pid, signal.SIGINT)
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
        first = check_first_run(demo, data_dir)
    finally:
        demo.cleanup()
    again = DemoProcess(data_dir, "--backfill-days", "0")
    try:
        assert "reusing" in again.wait_for(PG_PORT, STARTUP_S).group(0)
        again.wait_for(RUNNING, STARTUP_S)
        # Bookmarks and saved keys keep working: the same database, broker and key.
        assert again.wait_for(PG_PORT, 1).group(1) == first["pg_port"]
        assert again.wait_for(MQTT_URL, 1).group(1) == first["mqtt"]
        assert again.wait_for(SIGN_IN, 1).group(2) == first["key"]
        check_second_demo_refused(data_dir)
        assert again.interrupt() == 0, "\n".join(again.lines)
        assert_quiet(again.lines)
    finally:
        again.cleanup()


def assert_quiet(lines: list[str]) -> None:
    """No traceback from any process of the demo, no Modbus poll failures while it started."""
    text = "\n".join(lines)
    assert "Traceback" not in text, text
    assert "KeyboardInterrupt" not in text, text
    assert [line for line in lines if "Modbus device" in line] == [], text


def check_second_demo_refused(data_dir: Path) -> None:
    """While a demo runs: on the same folder, the lock; on another, the simulated Modbus port."""
    for folder, expected in (
        (data_dir, r"another wqmon demo \(PID \d+\) is using .*--data-dir"),
        (
            data_dir.with_name("other"),
            r"port 15020 \(the simulated Modbus bus .*\) is already taken",
        ),
    ):
        second = DemoProcess(folder, "--backfill-days", "0")
        try:
            assert second.finish(120) == 2, "\n".join(second.lines)
        finally:
            second.cleanup()
        errors = [line for line in second.lines if line.startswith("wqmon: error:")]
        assert len(errors) == 1, second.lines
        assert re.search(expected, errors[0]), errors
        assert "Traceback" not in "\n".join(second.lines)


def check_first_run(demo: DemoProcess, data_dir: Path) -> dict[str, str]:
    api = demo.wait_for(RUNNING, STARTUP_S).group(1)
    pg_port = demo.wait_for(PG_PORT, 1).group(1)
    db = f"postgresql://postgres@127.0.0.1:{pg_port}/wqmon"
    postmaster = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    processes = children(demo.proc.pid) | {postmaster} | children(postmaster)
    link = demo.wait_for(SIGN_IN, 5)

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
    asyncio.run(check_signed_in_page(api, link.group(1)))

    assert demo.interrupt() == 0, "\n".join(demo.lines)
    assert "demo: stopped" in demo.lines
    assert_quiet(demo.lines)
    assert [pid for pid in processes if alive(pid)] == []
    mqtt = demo.wait_for(MQTT_URL, 1).group(1)
    return {"pg_port": pg_port, "mqtt": mqtt, "key": link.group(2)}


async def check_signed_in_page(api: str, link: str) -> None:
    """The printed link opens the page signed in, the scripted alarms on it, in both languages."""
    async with browser_page(api) as page:
        await page.page.goto(link.removeprefix(api))
        alarms = page.page.locator("#alarm-list tr")
        exceedance = alarms.filter(has_text="WWTP-01/outlet/cod")
        await exceedance.first.wait_for(timeout=20_000)
        await page.page.locator("#alarm-list tr", has_text="WWTP-03/inlet").first.wait_for()
        await page.page.locator(".plot svg").first.wait_for()
        assert await page.page.locator("#key-dialog[open]").count() == 0
        assert "限值" in await exceedance.first.inner_text()
        await assert_chinese_renders(page, "#alarm-list td.sev")
        await assert_chinese_renders(page, 'article[data-site="WWTP-01"] h3')
        await page.screenshot("demo-page-zh", full_page=False)
        await page.page.click("#lang-toggle")
        await page.page.locator("h1", has_text="Water quality monitoring").wait_for()
        assert "the limit" in await exceedance.first.inner_text()
        await page.screenshot("demo-page-en", full_page=False)
        assert page.foreign_requests == []
        assert page.errors == []
