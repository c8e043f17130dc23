"""Build HJ 212 frames: the server's answers and commands, and uploads for simulators and tests.

Answers follow Appendix C (docs/field-facts.md §3): they reuse the QN of the packet answered, use
`ST=91`, echo PW and MN, and carry only the version bits in Flag (no ack requested).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo

from wqmon.protocol.hj212.crc import format_crc, hj212_crc16
from wqmon.protocol.hj212.packet import FLAG_ACK, FLAG_SPLIT, Packet

ST_INTERACTION = "91"
VERSION_2017 = 1
CN_REQUEST_ANSWER = "9011"
CN_EXECUTION_RESULT = "9012"
CN_NOTIFY_ANSWER = "9013"
CN_DATA_ANSWER = "9014"
CN_SET_TIME = "1012"
CN_TIME_CALIBRATION = "1013"
CN_REALTIME = "2011"
CN_DAY = "2031"
CN_MINUTE = "2051"
CN_HOUR = "2061"
HISTORY_CNS = frozenset({CN_MINUTE, CN_HOUR, CN_DAY})

Value = str | float | int
CpObjects = Mapping[str, Mapping[str, Value]]  # code -> {"Rtd": 7.0, "Flag": "N"}


def build_frame(segment: str) -> bytes:
    """Wrap a data segment as a frame: `##`, byte length, segment, CRC, CR LF."""
    data = segment.encode("utf-8")
    return b"##%04d%s%s\r\n" % (len(data), data, format_crc(hj212_crc16(data)).encode())


def format_time(moment: datetime, tz: tzinfo) -> str:
    """`YYYYMMDDhhmmss` of an aware `moment` in the site's zone `tz`."""
    return moment.astimezone(tz).strftime("%Y%m%d%H%M%S")


def format_qn(moment: datetime, tz: tzinfo) -> str:
    """A QN (`YYYYMMDDhhmmsszzz`) for an aware `moment` in zone `tz`."""
    local = moment.astimezone(tz)
    return f"{local:%Y%m%d%H%M%S}{local.microsecond // 1000:03d}"


def format_value(value: Value) -> str:
    """A CP value: text as given, numbers in plain decimal notation (never exponents)."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = repr(float(value)) if isinstance(value, float) else str(value)
    if "e" in text or "E" in text:
        text = f"{value:.6f}"
    return text


def cp_text(fields: Mapping[str, Value], objects: CpObjects | None = None) -> str:
    """The CP data area (without `&&`): top-level fields first, then one group per code."""
    groups = [f"{key}={format_value(value)}" for key, value in fields.items()]
    for code, attributes in (objects or {}).items():
        items = [f"{code}-{attr}={format_value(value)}" for attr, value in attributes.items()]
        if items:
            groups.append(",".join(items))
    return ";".join(groups)


def build_segment(
    *,
    cn: str,
    mn: str,
    pw: str,
    cp: str,
    qn: str | None = None,
    st: str = "32",
    flag: int | None = 4,
    pnum: int | None = None,
    pno: int | None = None,
) -> str:
    """A data segment in the standard's field order; None fields are left out."""
    parts = [f"QN={qn}"] if qn is not None else []
    parts += [f"ST={st}", f"CN={cn}", f"PW={pw}", f"MN={mn}"]
    if flag is not None:
        parts.append(f"Flag={flag}")
    if pnum is not None and pno is not None:
        parts += [f"PNUM={pnum}", f"PNO={pno}"]
    parts.append(f"CP=&&{cp}&&")
    return ";".join(parts)


def _answer(packet: Packet, cn: str, cp: str) -> bytes:
    version_bits = (packet.flag or 0) & ~(FLAG_ACK | FLAG_SPLIT)
    segment = build_segment(
        cn=cn,
        mn=packet.mn,
        pw=packet.pw or "",
        cp=cp,
        qn=packet.qn,
        st=ST_INTERACTION,
        flag=version_bits,
    )
    return build_frame(segment)


def data_answer(packet: Packet) -> bytes:
    """The `9014` data answer to an upload (same QN, ST=91, Flag = version bits, `CP=&&&&`)."""
    return _answer(packet, CN_DATA_ANSWER, "")


def notify_answer(packet: Packet) -> bytes:
    """The `9013` notification answer, e.g. to a `1013` time-calibration request."""
    return _answer(packet, CN_NOTIFY_ANSWER, "")


def request_answer(packet: Packet, qn_rtn: int = 1) -> bytes:
    """The field's `9011` answer to a command (`QnRtn`: 1 ready, 2 rejected, 3 PW error ...)."""
    return _answer(packet, CN_REQUEST_ANSWER, f"QnRtn={qn_rtn}")


def execution_result(packet: Packet, exe_rtn: int = 1) -> bytes:
    """The field's `9012` execution result (`ExeRtn`: 1 success, 2 failed, 100 no data ...)."""
    return _answer(packet, CN_EXECUTION_RESULT, f"ExeRtn={exe_rtn}")


def set_time_command(
    *, qn: str, mn: str, pw: str, system_time: datetime, tz: tzinfo, st: str = "32"
) -> bytes:
    """A host `1012` set-time command with `SystemTime` in the site's zone (Flag=5)."""
    cp = cp_text({"SystemTime": format_time(system_time, tz)})
    return build_frame(build_segment(cn=CN_SET_TIME, mn=mn, pw=pw, cp=cp, qn=qn, st=st, flag=5))


def history_request(
    *,
    cn: str,
    qn: str,
    mn: str,
    pw: str,
    begin: datetime,
    end: datetime,
    tz: tzinfo,
    st: str = "32",
) -> bytes:
    """A host history pull (2051/2061/2031 with BeginTime/EndTime, Flag=5)."""
    if cn not in HISTORY_CNS:
        raise ValueError(f"CN {cn} is not a history data command")
    cp = cp_text({"BeginTime": format_time(begin, tz), "EndTime": format_time(end, tz)})
    return build_frame(build_segment(cn=cn, mn=mn, pw=pw, cp=cp, qn=qn, st=st, flag=5))


def upload_segments(
    *,
    cn: str,
    mn: str,
    pw: str,
    data_time: datetime,
    tz: tzinfo,
    objects: CpObjects,
    qns: Sequence[str],
    flag: int = 4,
    st: str = "32",
    codes_per_packet: int | None = None,
) -> list[str]:
    """Data segments of one upload (2011 real time, 2051 minute, 2061 hour, 2031 day).

    Args:
        cn: The data command.
        mn: Logger id.
        pw: Password.
        data_time: Acquisition instant (2011) or period start (others), aware.
        tz: The site's zone; DataTime is local time.
        objects: Code → attributes, e.g. `{"w01018": {"Rtd": 7.0, "Flag": "N"}}`.
        qns: One QN per packet (as many as the upload splits into).
        flag: Flag of every packet; the split bit is set here when the upload is split.
        st: System code.
        codes_per_packet: Split into packets of at most this many codes (PNUM/PNO).
    """
    codes = list(objects)
    size = codes_per_packet or max(len(codes), 1)
    chunks = [codes[i : i + size] for i in range(0, len(codes), size)] or [[]]
    if len(qns) < len(chunks):
        raise ValueError(f"{len(chunks)} packets need {len(chunks)} QNs, got {len(qns)}")
    fields = {"DataTime": format_time(data_time, tz)}
    split = len(chunks) > 1
    segments = []
    for number, chunk in enumerate(chunks, start=1):
        cp = cp_text(fields, {code: objects[code] for code in chunk})
        segments.append(
            build_segment(
                cn=cn,
                mn=mn,
                pw=pw,
                cp=cp,
                qn=qns[number - 1],
                st=st,
                flag=flag | FLAG_SPLIT if split else flag,
                pnum=len(chunks) if split else None,
                pno=number if split else None,
            )
        )
    return segments


def split_count(objects: CpObjects, codes_per_packet: int | None) -> int:
    """How many packets `upload_segments` makes of `objects`."""
    if not codes_per_packet or not objects:
        return 1
    return math.ceil(len(objects) / codes_per_packet)
