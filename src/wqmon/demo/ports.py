"""The demo's loopback ports: the same ones every run, and a clear word when one is taken.

Bookmarks and saved keys point at `http://127.0.0.1:8000/`, and a user who connected a client
to the demo's database or broker expects it where it was yesterday. So:

- a port is probed with `SO_REUSEADDR`, as the servers themselves bind: the sockets of a demo
  stopped a minute ago linger in TIME-WAIT, and a probe without the option would call the port
  taken and move the page to a random one;
- the database and broker ports are written to `ports.json` in the data folder and asked for
  again on the next run;
- a port that is really taken either moves (the defaults, with a line saying so and which
  setting chooses it) or, when the user or the registry named it, stops the demo with one line
  that says which port, what wanted it and how to choose another (`ConfigError`, no traceback).
"""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path

from wqmon.errors import ConfigError

HOST = "127.0.0.1"
PORTS_FILE = "ports.json"


def bindable(port: int, host: str = HOST) -> bool:
    """True when a listener could bind `host:port` now (TIME-WAIT leftovers do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def any_free_port(host: str = HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def require_free(port: int, what: str, how: str, host: str = HOST) -> None:
    """Raise a one-line ConfigError when `port` is taken: `what` wanted it, `how` to change."""
    if not bindable(port, host):
        raise ConfigError(f"port {port} ({what}) is already taken on {host}: {how}")


class PortBook:
    """Ports kept between runs in `<data dir>/ports.json` (`{"postgres": 55432, ...}`)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / PORTS_FILE
        self.kept: dict[str, int] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(self.path.read_text())
            self.kept = {k: int(v) for k, v in loaded.items()}

    def choose(self, name: str, preferred: int) -> tuple[int, str | None]:
        """The port kept for `name`, else `preferred`, else any free one; and a note if moved.

        The note says why the port is not the usual one (`None` when it is).
        """
        kept = self.kept.get(name)
        for candidate in (kept, preferred):
            if candidate is not None and bindable(candidate):
                self._keep(name, candidate)
                moved = kept is not None and candidate != kept
                return candidate, (f"port {kept} is taken, now on {candidate}" if moved else None)
        port = any_free_port()
        self._keep(name, port)
        return port, f"port {kept or preferred} is taken, now on {port} (kept for next runs)"

    def _keep(self, name: str, port: int) -> None:
        if self.kept.get(name) == port:
            return
        self.kept[name] = port
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.kept, indent=1, sort_keys=True) + "\n")
