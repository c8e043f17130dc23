"""Benchmark: CPU per reading of the ingest hot path in one process, without I/O.

    .venv/bin/python -m bench.hot_path

The part of `wqmon ingest` that is Python per reading: a pushed body (100 readings, as
`bench.ingest` sends them) decoded into an envelope, validated (`Pipeline._prepare`), encoded as
binary COPY, and turned into `Reading` tuples for the commit listeners. Then an HJ 212 upload's
envelope (a 2011 of four readings, one time, flow in L/s, as `wqmon.protocol.hj212.convert`
builds it) through `Pipeline._prepare` and COPY encoding, per envelope. No database, broker or
event-loop wake-ups: on a shared machine this is the figure that stays comparable between two
versions of the code (run it with each on PYTHONPATH, alternately). Best of `--repeat` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.ingest import CODES, PER_MESSAGE, body
from wqmon.ingest.directory import ChannelInfo, Directory
from wqmon.ingest.envelope import Envelope
from wqmon.ingest.pipeline import Pipeline
from wqmon.ingest.push import envelope_from_body
from wqmon.model import RawReading, Source
from wqmon.parameters import HJ212_NATIVE_UNITS, by_code
from wqmon.store import copybin

try:
    from wqmon.alarms import frames
    from wqmon.ingest import stored
except ImportError:  # an older version of the code, for comparison
    stored = frames = None  # type: ignore[assignment]

GATEWAYS = 50


def directory() -> Directory:
    channels = {}
    for g in range(GATEWAYS):
        for n, code in enumerate(CODES.values()):
            site = f"S{g:04d}"
            channels[(site, "out", code)] = ChannelInfo(
                g * 4 + n + 1, site, "out", "discharge", by_code(code)
            )
    return Directory(channels, {}, {f"g{g:04d}": frozenset([f"S{g:04d}"]) for g in range(GATEWAYS)})


def _encode(prepared: Sequence[object]) -> bytes:
    if hasattr(copybin, "encode_blocks"):  # the columnar path
        return copybin.encode_blocks([p.block for p in prepared])  # type: ignore[attr-defined]
    return copybin.encode_readings([r for p in prepared for r in p.readings])  # type: ignore[attr-defined]


async def one_round(pipeline: Pipeline, bodies: list[bytes]) -> dict[str, float]:
    received = datetime.now(UTC)
    times: dict[str, float] = {}
    start = time.perf_counter()
    envelopes = [
        envelope_from_body(
            raw,
            source=Source.MQTT,
            peer=f"g{k % GATEWAYS:04d}",
            allowed_sites=frozenset([f"S{k % GATEWAYS:04d}"]),
            received=received,
        )
        for k, raw in enumerate(bodies)
    ]
    times["decode"] = time.perf_counter() - start
    start = time.perf_counter()
    prepared = [pipeline._prepare(e) for e in envelopes]  # noqa: SLF001 - the hot path itself
    times["validate"] = time.perf_counter() - start
    start = time.perf_counter()
    _encode(prepared)
    times["encode"] = time.perf_counter() - start
    start = time.perf_counter()
    listened = _listeners(prepared)
    times["listeners"] = time.perf_counter() - start
    assert listened == len(bodies) * PER_MESSAGE
    return times


def _listeners(prepared: list[Any]) -> int:
    """What the commit listeners of `wqmon ingest` do per batch of 10k readings: rollup hours
    and the alarm child's frame (tuples for a version of the code without columns)."""
    if stored is None:
        return len([r for p in prepared for r in p.readings])
    count = 0
    for i in range(0, len(prepared), 100):
        batch = stored.StoredReadings([p.block for p in prepared[i : i + 100]])
        batch.channel_hours()
        frames.encode_readings(batch)
        count += len(batch)
    return count


def hj212_envelopes(count: int, received: datetime) -> list[Envelope]:
    """`count` HJ 212 2011 uploads of the bench sites: four readings sharing one time."""
    out = []
    for k in range(count):
        site, ts = f"S{k % GATEWAYS:04d}", received - timedelta(seconds=30 * (k // GATEWAYS + 1))
        readings = [
            RawReading(site, "out", code, ts, 10.0 + n, HJ212_NATIVE_UNITS.get(code), "N")
            for n, code in enumerate(CODES.values())
        ]
        out.append(Envelope(Source.HJ212, "127.0.0.1:50000", readings, received_at=received))
    return out


async def hj212_round(pipeline: Pipeline, envelopes: list[Envelope]) -> dict[str, float]:
    times: dict[str, float] = {}
    start = time.perf_counter()
    prepared = [pipeline._prepare(e) for e in envelopes]  # noqa: SLF001 - the hot path itself
    times["validate"] = time.perf_counter() - start
    start = time.perf_counter()
    _encode(prepared)
    times["encode"] = time.perf_counter() - start
    assert all(not p.dead_letters and len(p.block) == len(CODES) for p in prepared)
    return times


async def main(messages: int, repeat: int) -> None:
    bodies = [
        body(k % GATEWAYS, (k // GATEWAYS) * PER_MESSAGE, PER_MESSAGE) for k in range(messages)
    ]
    pipeline = Pipeline(None, directory())  # type: ignore[arg-type]  # never connects
    best: dict[str, float] = {}
    for _ in range(repeat):
        for stage, seconds in (await one_round(pipeline, bodies)).items():
            best[stage] = min(best.get(stage, seconds), seconds)
    per = {stage: s / (messages * PER_MESSAGE) * 1e6 for stage, s in best.items()}
    total = sum(per.values())
    print(" | ".join(f"{k} {v:.2f}" for k, v in per.items()), f"| total {total:.2f} µs/reading")
    print(f"≈ {1e6 / total:,.0f} readings/s of one core for this part alone")
    uploads = hj212_envelopes(messages * 10, datetime.now(UTC))
    best = {}
    for _ in range(repeat):
        for stage, seconds in (await hj212_round(pipeline, uploads)).items():
            best[stage] = min(best.get(stage, seconds), seconds)
    per = {stage: s / len(uploads) * 1e6 for stage, s in best.items()}
    print(
        "HJ 212 upload, 4 readings: "
        + " | ".join(f"{k} {v:.2f}" for k, v in per.items())
        + f" | total {sum(per.values()):.2f} µs/envelope"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.repeat))
