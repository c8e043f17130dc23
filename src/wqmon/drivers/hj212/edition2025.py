"""What a `Session` does for HJ 212-2025 beyond 2017 (docs/hj212.md).

Encrypted frames are opened with the MN's keys (the key in force, then keys superseded less than
the grace period ago), and only then checked against length and CRC; a frame no key opens is
dead-lettered as `decrypt_failed` and not answered. CN 9015 heartbeats, CN 1001 hardware
identities (device activation with CN 1002), CN 1014 key requests and CN 2062 standard-check
results are handled here. Keys never reach a log line: only their ids do.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from typing import TYPE_CHECKING

import psycopg

from wqmon.errors import FrameError
from wqmon.ingest.directory import PointInfo
from wqmon.protocol.hj212 import builder
from wqmon.protocol.hj212.convert import standard_checks
from wqmon.protocol.hj212.encryption import DecryptError, encrypts, open_segment
from wqmon.protocol.hj212.framer import Frame
from wqmon.protocol.hj212.packet import Packet, parse_segment
from wqmon.protocol.hj212.sm4 import BLOCK
from wqmon.store.hj212_book import CheckRow, HardwareIdentity, SmKey

if TYPE_CHECKING:
    from wqmon.drivers.hj212.session import Session

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Opened:
    """An encrypted frame after decryption: the plaintext packet and the key that opened it."""

    packet: Packet
    frame: Frame  # the frame with its plaintext segment (raw stays the bytes as received)
    key: SmKey


async def open_frame(session: Session, header: Packet, frame: Frame) -> Opened | None:
    """Decrypt an encrypted frame with its MN's keys; None after dead-lettering it."""
    book = session.driver.book
    mn = header.mn
    try:
        keys = await book.keys(mn)
        opened = _try(frame, keys)
        if opened is None:
            # A key set a moment ago (`wqmon hj212 key set`, a 1014): look again once.
            keys = await book.keys(mn, reload=True)
            opened = _try(frame, keys)
    except DecryptError as exc:
        session.refuse(frame.raw, "decrypt_failed", f"MN {mn}: {exc}", _known(session, mn))
        return None
    except psycopg.Error as exc:
        session.refuse(frame.raw, "decrypt_failed", f"MN {mn}: keys unavailable ({exc})")
        return None
    if opened is None:
        detail = (
            f"MN {mn}: encrypted packet does not decrypt to a valid data segment"
            f" with {'no key set' if not keys else f'{len(keys)} key(s)'}"
        )
        session.refuse(frame.raw, "decrypt_failed", detail, _known(session, mn))
        return None
    plain, key = opened
    try:
        packet = parse_segment(plain.segment)
    except FrameError as exc:
        detail = f"MN {mn}: decrypted segment is not a valid packet: {exc}"
        session.refuse(frame.raw, "decrypt_failed", detail, _known(session, mn))
        return None
    return Opened(packet, plain, key)


def _try(frame: Frame, keys: list[SmKey]) -> tuple[Frame, SmKey] | None:
    if not keys:
        return None
    try:
        opened = open_segment(
            frame.segment, frame.declared_length, frame.crc_text, [k.key for k in keys]
        )
    except DecryptError as exc:
        if "does not decrypt" in str(exc):
            return None
        raise
    plain = dataclasses.replace(frame, segment=opened.segment, crc_variant=opened.crc_variant)
    return plain, keys[opened.key_index]


def _known(session: Session, mn: str) -> str | None:
    """The MN when it is registered (its state then records the error), else None."""
    return mn if session.driver.ctx.directory().point_for_mn(mn) is not None else None


def plain_refused(packet: Packet, frame: Frame, point: PointInfo) -> str | None:
    """Why a plain packet is refused for an MN that must encrypt, or None when it is fine."""
    if frame.encrypted or packet.version < 2 or not point.hj212_options.get("require_encryption"):  # noqa: PLR2004 - 2 = HJ 212-2025
        return None
    cp_start = frame.segment.find(b"CP=&&")
    long_enough = cp_start >= 0 and len(frame.segment) - cp_start - 7 >= BLOCK
    if encrypts(packet.cn) and long_enough:
        return f"MN {packet.mn} requires encryption; CN {packet.cn} arrived in plain text"
    return None


async def heartbeat(session: Session, packet: Packet) -> None:
    """CN 9015: fresh 'online' state (done by authentication), 9013 when the flag asks."""
    state = session.driver.state.get(packet.mn)
    state.last_heartbeat_at = session.driver.ctx.clock()
    state.heartbeats += 1
    session.driver.logger_changed(packet.mn)
    if packet.flag is not None and packet.flag & 1:
        await session.write(builder.heartbeat_answer(packet))


def hardware_identity(packet: Packet) -> HardwareIdentity | None:
    """The identity a CN 1001 carries (i23005 is required), or None."""
    info = {code: attrs.get("Info") for code, attrs in packet.cp.items.items()}
    hardware_id = (info.get("i23005") or "").strip()
    if not hardware_id:
        return None
    return HardwareIdentity(
        hardware_id, info.get("i23006"), info.get("i23007"), info.get("i23008"), packet.mn or None
    )


async def hardware(session: Session, packet: Packet, frame: Frame) -> None:
    """CN 1001 (any MN, even unknown): record the device; send its MN once an admin assigned one."""
    identity = hardware_identity(packet)
    if identity is None:
        session.refuse(frame.raw, "bad_packet", "CN 1001 without i23005-Info (logger id)")
        return
    book = session.driver.book
    try:
        assigned = await book.device_seen(identity, session.peer)
    except psycopg.Error as exc:
        log.warning(
            "hj212 %s: device %s not recorded (%s)", session.peer, identity.hardware_id, exc
        )
        return
    if packet.ack_requested:
        await session.write(builder.data_answer(packet))
    if assigned is None:
        log.info("hj212 %s: logger %s awaits activation", session.peer, identity.hardware_id)
        return
    point = session.driver.ctx.directory().point_for_mn(assigned)
    if point is None:
        log.warning(
            "hj212: MN %s assigned to %s is not in the registry", assigned, identity.hardware_id
        )
        return
    command = builder.set_mn_command(
        qn=session.driver.next_qn(point.timezone),
        new_mn=assigned,
        pw=point.hj212_password or "",
        hardware_id=identity.hardware_id,
        st=packet.st or "32",
    )
    await session.write(command)
    try:
        await book.device_activated(identity.hardware_id)
    except psycopg.Error as exc:
        log.warning("hj212: activation of %s not recorded (%s)", identity.hardware_id, exc)
    log.info("hj212 %s: logger %s given MN %s (1002)", session.peer, identity.hardware_id, assigned)


async def new_key(
    session: Session, packet: Packet, opened_with: SmKey | None, frame: Frame
) -> None:
    """CN 1014: generate a key, record it in the MN's history, answer under the key in force."""
    if opened_with is None:
        # A new key answered in plain text would be readable by anyone on the path.
        detail = (
            f"MN {packet.mn}: CN 1014 must be encrypted; the new key is never sent in plain text"
        )
        session.refuse(frame.raw, "plain_refused", detail, packet.mn)
        return
    created = packet.cp.fields.get("SKCreateTime") or ""
    key = secrets.token_bytes(BLOCK)
    try:
        kid = await session.driver.book.add_platform_key(packet.mn, key, created)
    except psycopg.Error as exc:
        log.warning("hj212 MN %s: new key not stored (%s); not answered", packet.mn, exc)
        return
    await session.write(
        builder.new_key_answer(packet, created=created, new_key=key, key=opened_with.key)
    )
    session.driver.state.get(packet.mn).key_id = kid
    log.info(
        "hj212 MN %s: new key %s issued (1014), previous key %s in grace",
        packet.mn,
        kid,
        opened_with.key_id,
    )


async def standard_check(session: Session, packet: Packet, frame: Frame, point: PointInfo) -> None:
    """CN 2062: store the check results per channel; 9014 once stored."""
    directory = session.driver.ctx.directory()
    binding = session.driver.binding_for(point)
    now = session.driver.ctx.clock()
    try:
        results = standard_checks(packet, binding)
    except FrameError as exc:
        session.refuse(frame.raw, "bad_packet", str(exc), packet.mn)
        return
    rows = []
    for result in results:
        channel = directory.channel(point.site, point.point, result.parameter)
        if channel is None:
            detail = (
                f"2062 result for {result.parameter}: no such channel at {point.site}/{point.point}"
            )
            session.refuse(frame.raw, "unknown_channel", detail, packet.mn)
            continue
        rows.append(
            CheckRow(
                channel.id,
                result.ts,
                result.measured,
                result.standard,
                result.passed,
                result.result_type,
                packet.resent,
                now,
            )
        )
    try:
        if rows:
            await session.driver.book.store_checks(rows)
    except psycopg.Error as exc:
        log.warning("hj212 MN %s: 2062 results not stored (%s); not answered", packet.mn, exc)
        return
    if packet.ack_requested:
        await session.write(builder.data_answer(packet))
