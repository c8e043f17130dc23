"""A lean MQTT 3.1.1 QoS 1 publisher for the load generators: packets encoded up front, written
in chunks on a plain socket, PUBACKs counted by a reader thread.

The benchmarks measure `wqmon ingest`, not the gateways, yet on a 2-core machine the generator
shares the CPU with what it loads: paho spent 1.5 µs per reading (150 µs per 100-reading
message: a `MQTTMessageInfo`, a lock and a wake-up each), a tenth of the whole machine's budget.
Real gateways run elsewhere. This writes what paho writes on the wire (CONNECT with a clean
session and no keep-alive, PUBLISH QoS 1, DISCONNECT), so the broker and ingest see the same
traffic; the generator's own CPU is still measured and reported (`bench.cpu`).
"""

from __future__ import annotations

import socket
import struct
import threading
import time

PUBACK = 0x40
PUBLISH_QOS1 = 0x32


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: bytes) -> bytes:
    return struct.pack("!H", len(s)) + s


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """One PUBLISH, QoS 1, not retained."""
    body = _string(topic.encode()) + struct.pack("!H", packet_id) + payload
    return bytes([PUBLISH_QOS1]) + _remaining_length(len(body)) + body


def packet_id(n: int) -> int:
    """The n-th message's id (1…65535; reuse is safe once the window has moved on)."""
    return n % 65535 + 1


class RawPublisher:
    """One MQTT connection publishing QoS 1 with at most `window` messages unacknowledged."""

    def __init__(self, port: int, client_id: str, *, window: int = 1000) -> None:
        self.window = window
        self.sent = 0
        self.acked = 0
        self._cond = threading.Condition()
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connect(client_id)
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()

    def _connect(self, client_id: str) -> None:
        # Protocol "MQTT" level 4 (3.1.1), clean session, keep-alive 0 (the broker never times
        # the generator out, so no PINGREQ is needed however long a run lasts).
        variable = _string(b"MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0)
        body = variable + _string(client_id.encode())
        self._sock.sendall(bytes([0x10]) + _remaining_length(len(body)) + body)
        connack = self._recv_exact(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"MQTT CONNACK refused: {connack.hex()}")

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def _read_acks(self) -> None:
        pending = b""
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            whole = len(pending) // 4  # nothing but 4-byte PUBACKs arrives on this connection
            if any(pending[i] != PUBACK for i in range(0, whole * 4, 4)):
                raise ConnectionError("unexpected packet from the broker")
            pending = pending[whole * 4 :]
            with self._cond:
                self.acked += whole
                self._cond.notify_all()

    def send(self, packets: list[bytes]) -> None:
        """Write the packets in order, waiting for acknowledgements to keep within the window."""
        i = 0
        while i < len(packets):
            with self._cond:
                while self.sent - self.acked >= self.window:
                    self._cond.wait()
                room = self.window - (self.sent - self.acked)
            chunk = packets[i : i + min(room, 64)]
            self._sock.sendall(b"".join(chunk))
            self.sent += len(chunk)
            i += len(chunk)

    def unacked(self) -> int:
        return self.sent - self.acked

    def wait_acked(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.acked < self.sent:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.sent - self.acked} messages not acknowledged")
                self._cond.wait(left)

    def close(self) -> None:
        try:
            self._sock.sendall(bytes([0xE0, 0x00]))
        finally:
            self._sock.close()
