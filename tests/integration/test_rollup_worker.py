"""The rollup worker never outlives `wqmon ingest`, even when ingest dies while it starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time

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


def test_worker_stops_on_sigterm(db_url: str) -> None:
    env = {**os.environ, "WQMON_DATABASE_URL": db_url, PARENT_PID_ENV: str(os.getpid())}
    proc = subprocess.Popen([sys.executable, "-m", "wqmon.balance.worker"], env=env)
    try:
        time.sleep(1.5)  # past its start-up, inside its loop
        assert proc.poll() is None  # the parent (this test) is alive: it keeps working
        proc.terminate()
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
