"""Golden cases: real HJ 212 packets from public projects, framed, parsed and converted.

Each folder of tests/testcases/hj212/ holds `frames.txt` (the raw bytes a logger sent, one
packet per line), `expected.json` (what wqmon must make of them) and `SOURCE` (where each packet
was found). Real packets are kept even when their CRC or length is off; the expected outcome
then says so (a bad_crc fault, a length mismatch, the MODBUS CRC variant).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from wqmon.protocol.hj212.convert import PointBinding, convert_packet
from wqmon.protocol.hj212.framer import BadFrame, FrameReader
from wqmon.protocol.hj212.packet import parse_segment

CASES = Path(__file__).parents[2] / "testcases" / "hj212"


def _iso(moment: Any) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def describe(data: bytes, timezone: str) -> list[dict[str, Any]]:
    """What the protocol layer makes of a byte stream, as plain JSON-able data."""
    binding = PointBinding(site="SITE", point="point", role="outlet", tz=ZoneInfo(timezone))
    out: list[dict[str, Any]] = []
    for result in FrameReader().feed(data):
        if isinstance(result, BadFrame):
            out.append({"fault": result.reason})
            continue
        packet = parse_segment(result.segment)
        conversion = convert_packet(packet, binding)
        out.append(
            {
                "crc_variant": result.crc_variant.value,
                "length_mismatch": result.length_mismatch,
                "cn": packet.cn,
                "mn": packet.mn,
                "qn": packet.qn,
                "st": packet.st,
                "flag": packet.flag,
                "ack_requested": packet.ack_requested,
                "readings": [
                    {
                        "parameter": r.parameter,
                        "ts": _iso(r.ts),
                        "value": r.value,
                        "unit": r.unit,
                        "flag": r.flag,
                    }
                    for r in conversion.readings
                ],
                "periods": [
                    {
                        "parameter": p.parameter,
                        "period": p.period.value,
                        "ts": _iso(p.ts),
                        "avg": p.avg,
                        "min": p.min,
                        "max": p.max,
                        "cou": p.cou,
                        "unit": p.unit,
                        "flag": p.flag,
                    }
                    for p in conversion.periods
                ],
                "rejected": sorted({f"{r.code}:{r.reason}" for r in conversion.rejected}),
                "unit_warnings": [w.parameter for w in conversion.warnings],
            }
        )
    return out


def _case_dirs() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / "expected.json").exists())


def test_there_are_golden_cases() -> None:
    assert len(_case_dirs()) >= 10


@pytest.mark.parametrize("case", _case_dirs(), ids=lambda p: p.name)
def test_golden_case(case: Path) -> None:
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    assert (case / "SOURCE").read_text(encoding="utf-8").strip()
    data = (case / "frames.txt").read_bytes()
    assert describe(data, expected["timezone"]) == expected["frames"]
