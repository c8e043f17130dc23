"""The demo's MQTT broker: rumqttd from the `iotcore` wheel, speaking MQTT 5 on loopback.

wqmon's MQTT driver speaks MQTT 5 (Receive Maximum for backpressure, session expiry), so the
broker must too; amqtt speaks only 3.1.1, iotcore's rumqttd speaks 5 and keeps persistent
sessions (in memory: a broker restart loses them, which the demo never does). It runs as
`python -m iotcore` in a child process of its own session, so a terminal's Ctrl-C reaches wqmon
only, which stops it last-but-one, after ingest has drained.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

from wqmon.errors import ConfigError

_CONFIG = """\
id = 0

[router]
max_connections = 1000
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10

[v5.1]
name = "wqmon-demo"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1
    [v5.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 4194304
    max_inflight_count = 500
"""


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


class EmbeddedBroker:
    """An MQTT 5 broker on 127.0.0.1:`port`, its config and log in `root`."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "rumqttd.toml"
        config.write_text(_CONFIG.format(port=self.port))
        with (self.root / "broker.log").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - this Python running a module
                [
                    sys.executable,
                    "-m",
                    "iotcore",
                    "--config",
                    str(config),
                    "--log-level",
                    "WARNING",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while not listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ConfigError(f"the MQTT broker did not start, see {self.root}/broker.log")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
