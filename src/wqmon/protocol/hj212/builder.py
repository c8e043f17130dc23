"""Build HJ 212 frames: the server's answers and commands, and uploads for simulators and tests.

Answers follow Appendix C (docs/field-facts.md §3): they reuse the QN of the packet answered, use
`ST=91`, echo PW and MN, and carry only the version bits in Flag (no ack requested).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo

from wqmon.protocol.hj212.crc import format_crc, hj212_crc16
from wqmon.protocol.hj212.encryption import encrypt_segment
from wqmon.protocol.hj212.packet import FLAG_ACK, FLAG_SPLIT, Packet
from wqmon.protocol.hj212.version import Version, make_flag

ST_INTERACTION = "91"
VERSION_2017 = 1
VERSION_2025 = 2
CN_SET_MN = "1002"
CN_HARDWARE_ID = "1001"
CN_NEW_KEY = "1014"
CN_HEARTBEAT = "9015"
CN_STANDARD_CHECK = "2062"
HARDWARE_CODES = ("i23005", "i23006", "i23007", "i23008")  # logger id, CPU id, MAC 1, MAC 2
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


def build_frame(segment: str, key: bytes | None = None) -> bytes:
    """Wrap a data segment as a frame: `##`, byte length, segment, CRC, CR LF.

    With an SM4 `key` the CP content is encrypted (HJ 212-2025); the length and the CRC stay
    those of the plaintext segment (docs/field-facts.md §11).
    """
    data = segment.encode("utf-8")
    crc = format_crc(hj212_crc16(data)).encode()
    body = data if key is None else encrypt_segment(data, key)
    return b"##%04d%s%s\r\n" % (len(data), body, crc)


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


def heartbeat_answer(packet: Packet) -> bytes:
    """The `9013` answer to a `9015` heartbeat that asked for one."""
    return _answer(packet, CN_NOTIFY_ANSWER, "")


def heartbeat(*, qn: str, mn: str, pw: str, st: str = "32") -> bytes:
    """A logger's `9015` heartbeat (HJ 212-2025, Flag = version | A, `CP=&&&&`)."""
    flag = make_flag(Version.HJ212_2025, ack=True)
    return build_frame(build_segment(cn=CN_HEARTBEAT, mn=mn, pw=pw, cp="", qn=qn, st=st, flag=flag))


def hardware_upload(*, qn: str, mn: str, pw: str, identity: Sequence[str], st: str = "32") -> bytes:
    """A logger's `1001` hardware identity upload (i23005 logger id, i23006 CPU, i23007/8 MACs)."""
    items = ";".join(
        f"{code}-Info={value}" for code, value in zip(HARDWARE_CODES, identity, strict=False)
    )
    flag = make_flag(Version.HJ212_2025, ack=True)
    return build_frame(
        build_segment(cn=CN_HARDWARE_ID, mn=mn, pw=pw, cp=items, qn=qn, st=st, flag=flag)
    )


def set_mn_command(*, qn: str, new_mn: str, pw: str, hardware_id: str, st: str = "32") -> bytes:
    """The platform's `1002` (assign an MN): the new MN in the header, the logger's i23005 in CP."""
    flag = make_flag(Version.HJ212_2025, ack=True)
    cp = f"i23005-Info={hardware_id}"
    return build_frame(
        build_segment(cn=CN_SET_MN, mn=new_mn, pw=pw, cp=cp, qn=qn, st=st, flag=flag)
    )


def new_key_request(
    *, qn: str, mn: str, pw: str, created: str, key: bytes | None, st: str = "32"
) -> bytes:
    """A logger's `1014` (ask for a new key), `CP=&&SKCreateTime=...&&`, encrypted under `key`."""
    flag = make_flag(Version.HJ212_2025, ack=True)
    segment = build_segment(
        cn=CN_NEW_KEY, mn=mn, pw=pw, cp=f"SKCreateTime={created}", qn=qn, st=st, flag=flag
    )
    return build_frame(segment, key)


def new_key_answer(packet: Packet, *, created: str, new_key: bytes, key: bytes | None) -> bytes:
    """The platform's `1014` answer with `SKCreateTime` and `NewSK` (32 hex), same QN.

    CN 1014 is one of the encrypted commands: the new key travels under the key in force
    (`key`), never in plain text when the logger has one.
    """
    cp = cp_text({"SKCreateTime": created, "NewSK": new_key.hex().upper()})
    segment = build_segment(
        cn=CN_NEW_KEY,
        mn=packet.mn,
        pw=packet.pw or "",
        cp=cp,
        qn=packet.qn,
        st=ST_INTERACTION,
        flag=make_flag(Version.HJ212_2025),
    )
    return build_frame(segment, key)


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
