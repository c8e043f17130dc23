"""The demo's ports: TIME-WAIT does not move them, they are kept between runs, a taken one says so."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from wqmon.demo.ports import PortBook, bindable, require_free
from wqmon.errors import ConfigError


def _time_wait_port() -> int:
    """A port whose server side closed first after a connection: it lingers in TIME-WAIT."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = int(server.getsockname()[1])
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the side that closes first holds TIME-WAIT
    client.close()
    server.close()
    return port


def test_a_port_in_time_wait_is_still_bindable() -> None:
    port = _time_wait_port()
    plain = socket.socket()
    with plain, pytest.raises(OSError, match="in use"):
        plain.bind(("127.0.0.1", port))  # what the old probe did, and why the page moved
    assert bindable(port)


def test_a_listening_port_is_not_bindable_and_require_free_names_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        assert not bindable(port)
        with pytest.raises(
            ConfigError, match=rf"^port {port} \(the thing\) is already taken .*: do X$"
        ):
            require_free(port, "the thing", "do X")


def test_ports_are_kept_between_runs(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        preferred = int(probe.getsockname()[1])
    port, note = PortBook(tmp_path).choose("postgres", preferred)
    assert (port, note) == (preferred, None)
    # Next run, another preference (say a changed default): the kept port wins.
    assert PortBook(tmp_path).choose("postgres", 1) == (preferred, None)
    assert (tmp_path / "ports.json").read_text().count(str(preferred)) == 1


def test_a_taken_kept_port_moves_and_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = int(taken.getsockname()[1])
        (tmp_path / "ports.json").write_text(f'{{"mqtt": {busy}}}')
        port, note = PortBook(tmp_path).choose("mqtt", busy)
    assert port != busy
    assert note == f"port {busy} is taken, now on {port} (kept for next runs)"
    assert PortBook(tmp_path).kept == {"mqtt": port}
