"""CPU time of the processes a benchmark runs, from /proc: who spends the machine's cores.

On a 2-core machine shared by the load generator, the broker, PostgreSQL and wqmon, readings/s
alone hides where the time goes; CPU µs per reading per process does not, and it is much less
disturbed by neighbours than a rate is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) "


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 once it is gone)."""
    fields = _stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / _TICK


def descendants(pid: int) -> list[int]:
    """The live children of `pid`, their children, and so on."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def postmaster_pid(datadir: Path) -> int:
    return int((datadir / "postmaster.pid").read_text().splitlines()[0])


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


class CpuMeter:
    """CPU seconds per named group of processes between `start()` and `stop()`.

    Each group is a function giving its pids, asked at both ends: a process that appeared in
    between (a database backend opened on the first batch) counts from zero.
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self._start: dict[int, float] = {}
        self.seconds: dict[str, float] = {}

    def start(self) -> None:
        self._start = {pid: cpu_seconds(pid) for find in self.groups.values() for pid in find()}

    def stop(self) -> dict[str, float]:
        self.seconds = {
            name: sum(cpu_seconds(pid) - self._start.get(pid, 0.0) for pid in find())
            for name, find in self.groups.items()
        }
        return self.seconds


def py_spy_record(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """Start py-spy on `pid`, raw stacks (for flame graphs) to `out`; stop it with SIGINT.

    Idle samples and one stack root per thread are kept: a process that is not CPU-bound shows
    where each thread waits (that is how the MQTT consumer starving the writer was found).

    py-spy is a bench-only tool (`.venv/bin/pip install py-spy`), looked up beside this Python
    so that a venv that is not on PATH still finds it."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        spy,
        "record",
        "--nonblocking",
        "--idle",
        "--threads",
        "--format",
        "raw",
        "-o",
        str(out),
        "-p",
        str(pid),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
