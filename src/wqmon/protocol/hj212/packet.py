"""Parse an HJ 212 data segment into a `Packet`, by key and tolerant of real-world quirks.

Header fields (QN, ST, CN, PW, MN, Flag, PNUM, PNO) are read by name, in any order. The CP data
area is split into objects by `;` and items by `,`; an item `code-Attr=value` is split at the
LAST `-` (vendor codes contain hyphens) and items of one code are merged across objects, so
`01-ZsRtd=0;...;01-Rtd=0` gives one object (docs/field-facts.md §4). Items without a `-`
(DataTime, BeginTime, RtdInterval, QnRtn ...) are kept in `Cp.fields`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from wqmon.errors import FrameError
from wqmon.protocol.hj212.version import FLAG_ACK, FLAG_SPLIT, version_bits

__all__ = ["FLAG_ACK", "FLAG_SPLIT", "Cp", "Packet", "parse_cp", "parse_segment", "parse_time"]

_CP_OPEN = "CP=&&"
_CP_CLOSE = "&&"
_NEW_CODE = re.compile(r"^[A-Za-z]\d{5}$")  # 2017-style codes: w01018, e10201, i12001, a21026
_TIME = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{3})?$")
_ATTRIBUTES = {
    a.lower(): a
    for a in (
        "Rtd",
        "Min",
        "Avg",
        "Max",
        "Cou",
        "Flag",
        "EFlag",
        "SampleTime",
        "ZsRtd",
        "ZsMin",
        "ZsAvg",
        "ZsMax",
        "RS",
        "RT",
        "Info",
        "SN",
        "SampleRd",  # 2062 standard-sample check (HJ 212-2025)
        "StandardValue",
        "ResultType",
    )
}


@dataclass(frozen=True, slots=True)
class Cp:
    """The CP data area: top-level fields and per-code items."""

    fields: dict[str, str] = field(default_factory=dict)  # DataTime, BeginTime, RtdInterval ...
    items: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> {"Rtd": "7.0", ...}


@dataclass(frozen=True, slots=True)
class Packet:
    """One parsed HJ 212 data segment."""

    cn: str
    mn: str
    qn: str | None = None
    st: str | None = None
    pw: str | None = None
    flag: int | None = None  # None: the field was absent (HJ/T 212-2005 devices)
    pnum: int | None = None
    pno: int | None = None
    cp: Cp = field(default_factory=Cp)
    header: dict[str, str] = field(default_factory=dict)  # every header field as sent

    @property
    def ack_requested(self) -> bool:
        """Whether to answer: Flag bit A set, or Flag absent (server policy, docs/field-facts.md §3)."""
        return self.flag is None or bool(self.flag & FLAG_ACK)

    @property
    def split(self) -> bool:
        """Whether this is one piece of a split packet (Flag bit D)."""
        return self.flag is not None and bool(self.flag & FLAG_SPLIT)

    @property
    def version(self) -> int:
        """Protocol version bits: 0 HJ/T 212-2005, 1 HJ 212-2017, 2 HJ 212-2025."""
        return version_bits(self.flag)

    @property
    def resent(self) -> bool:
        """`RF=1` in the header: a re-sent (late) packet, HJ 212-2025 (docs/field-facts.md §11)."""
        return self.header.get("RF", "").strip() == "1"

    @property
    def data_time(self) -> str | None:
        """The CP `DataTime` text, if any."""
        return self.cp.fields.get("DataTime")


def normalise_code(code: str) -> str:
    """Lower-case 2017-style codes (`W01018` → `w01018`); keep vendor and 2005 codes as sent."""
    code = code.strip()
    return code.lower() if _NEW_CODE.match(code) else code


def _normalise_attribute(attribute: str) -> str:
    attribute = attribute.strip()
    return _ATTRIBUTES.get(attribute.lower(), attribute)


def parse_cp(text: str) -> Cp:
    """Parse the text between `CP=&&` and the closing `&&`."""
    cp = Cp()
    for obj in text.split(";"):
        for item in obj.split(","):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not key or not sep:
                continue  # empty items and trailing separators are tolerated
            code, dash, attribute = key.rpartition("-")
            if not dash or not code:
                cp.fields.setdefault(key, value.strip())
                continue
            attrs = cp.items.setdefault(normalise_code(code), {})
            # A repeated attribute keeps its first value: one device sends its totaliser reading
            # as a second `w00000-Avg` (docs/field-facts.md §6).
            attrs.setdefault(_normalise_attribute(attribute), value.strip())
    return cp


def _split_cp(segment: str) -> tuple[str, str]:
    start = segment.find(_CP_OPEN)
    if start < 0:
        raise FrameError("no CP=&& in the data segment", raw=segment.encode())
    body_start = start + len(_CP_OPEN)
    end = segment.rfind(_CP_CLOSE, body_start)
    if end < 0:
        raise FrameError("CP data area is not closed with &&", raw=segment.encode())
    return segment[:start], segment[body_start:end]


def _optional_int(header: dict[str, str], name: str, segment: str) -> int | None:
    text = header.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit():
        raise FrameError(f"{name}={text!r} is not an integer", raw=segment.encode())
    return int(text)


def parse_segment(segment: str | bytes) -> Packet:
    """Parse one data segment (as framed, without `##`, length, CRC or trailer).

    Raises:
        FrameError: The segment has no CN or MN, no CP, an unclosed CP, or a non-integer
            Flag/PNUM/PNO. The error carries the raw segment.
    """
    if isinstance(segment, bytes):
        segment = segment.decode("utf-8", errors="replace")
    head, cp_text = _split_cp(segment)
    header: dict[str, str] = {}
    for part in head.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            header.setdefault(key.strip(), value.strip())
    if not header.get("CN"):
        raise FrameError("no CN in the data segment", raw=segment.encode())
    # An empty `MN=` is seen in real traffic; the caller rejects it as an unknown MN.
    if "MN" not in header:
        raise FrameError("no MN in the data segment", raw=segment.encode())
    return Packet(
        cn=header["CN"],
        mn=header["MN"],
        qn=header.get("QN") or None,
        st=header.get("ST"),
        pw=header.get("PW"),
        flag=_optional_int(header, "Flag", segment),
        pnum=_optional_int(header, "PNUM", segment),
        pno=_optional_int(header, "PNO", segment),
        cp=parse_cp(cp_text),
        header=header,
    )


def parse_time(text: str, tz: tzinfo) -> datetime:
    """Parse an HJ 212 local time `YYYYMMDDhhmmss[zzz]` in zone `tz` (aware result).

    Raises:
        ValueError: Not 14 or 17 digits, or not a valid date and time.
    """
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an HJ 212 time (YYYYMMDDhhmmss[zzz])")
    year, month, day, hour, minute, second, millis = match.groups()
    return datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second),
        int(millis or 0) * 1000,
        tzinfo=tz,
    )
