"""The rollup worker never outlives `wqmon ingest`, even when ingest dies while it starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from wqmon.balance.worker import PARENT_PID_ENV


def test_worker_whose_parent_is_already_gone_exits(db_url: str) -> None:
    # A PID that is not our parent: as if ingest had died before the worker looked.
    env = {**os.environ, "WQMON_DATABASE_URL": db_url, PARENT_PID_ENV: str(2**22 + 12345)}
    proc = subprocess.run(
        [sys.executable, "-m", "wqmon.balance.worker"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()


def _wait_for_sigterm_handler(pid: int, timeout: float = 60.0) -> None:
    """Wait until the process catches SIGTERM (bit 15 of SigCgt in /proc/PID/status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines()
        caught = next(line for line in status if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.05)
    raise AssertionError("the worker never installed its SIGTERM handler")


def test_worker_stops_on_sigterm(db_url: str) -> None:
    env = {**os.environ, "WQMON_DATABASE_URL": db_url, PARENT_PID_ENV: str(os.getpid())}
    proc = subprocess.Popen([sys.executable, "-m", "wqmon.balance.worker"], env=env)
    try:
        _wait_for_sigterm_handler(proc.pid)  # past its start-up: a signal before it is fatal
        time.sleep(0.5)  # inside its loop
        assert proc.poll() is None  # the parent (this test) is alive: it keeps working
        proc.terminate()
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
