"""CPU per HJ 212 upload of the protocol steps the server runs for each packet, without I/O.

    PYTHONPATH=src:. .venv/bin/python -m bench.hj212_packet_cost --repeat 5

Frames as `bench.hj212_fleet` sends them (2011 and 2051, HJ 212-2017 plain and HJ 212-2025
SM4); per packet: framing with the CRC check, header parse, decryption with its CRC check (SM4
only), the CP parse, and the 9014 answer with its CRC. The figure is CPU time (process time),
best of `--repeat` rounds, so it stays comparable on a loaded machine.
"""

from __future__ import annotations

import argparse
import time

from bench.hj212_fleet import FleetPlan, Logger, LoggerSpec, Stats
from wqmon.protocol.hj212 import builder
from wqmon.protocol.hj212.encryption import open_segment
from wqmon.protocol.hj212.framer import Frame, FrameReader
from wqmon.protocol.hj212.packet import parse_segment

KEY = bytes(range(16))


def frames(edition: int, key: bytes | None, cn: str, count: int) -> list[bytes]:
    plan = FleetPlan(0, "123456", 1, 0, 0, 0, 0, 0, 0, 0, 0)
    logger = Logger(LoggerSpec(0, "BENCH000000000", edition, key), plan, Stats())
    return [logger.frame(cn, 1_764_633_600 + 30 * n, resent=False)[1] for n in range(count)]


def serve(batch: list[bytes], key: bytes | None) -> None:
    reader = FrameReader()
    for raw in batch:
        for frame in reader.feed(raw):
            assert isinstance(frame, Frame)
            segment = frame.segment
            if frame.encrypted and key is not None:
                segment = open_segment(
                    segment, frame.declared_length, frame.crc_text, [key]
                ).segment
            packet = parse_segment(segment)
            _ = packet.cp.items
            builder.data_answer(packet)


def best_us(batch: list[bytes], key: bytes | None, repeat: int) -> float:
    rounds = []
    for _ in range(repeat):
        started = time.process_time()
        serve(batch, key)
        rounds.append(time.process_time() - started)
    return 1e6 * min(rounds) / len(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for label, edition, key in (("2017 plain", 2017, None), ("2025 SM4", 2025, KEY)):
        for cn in ("2011", "2051"):
            batch = frames(edition, key, cn, args.packets)
            cost = best_us(batch, key, args.repeat)
            print(f"{label:10s} {cn}: {cost:6.1f} µs per packet ({len(batch[0])} bytes)")


if __name__ == "__main__":
    main()
