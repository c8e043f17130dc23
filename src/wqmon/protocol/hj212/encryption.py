"""HJ 212-2025 encryption of the CP content (docs/field-facts.md §11).

Only the text between `CP=&&` and the closing `&&` is encrypted. It is cut into 16-byte blocks;
the whole blocks are SM4/ECB-encrypted and written as `{0xE4,0x3E,...}` (upper-case hex bytes,
comma-separated) right after `CP=&&`; a tail shorter than 16 bytes stays plain after the brace.
The frame's length field and CRC are those of the *plaintext* segment, so a receiver frames on
`##`…CRLF, decrypts, and only then checks length and CRC (`open_segment`).

    wire = encrypt_segment(plain, key)          # the data segment as sent
    plain = decrypt_segment(wire, key)          # raises DecryptError
    opened = open_segment(wire, declared, crc_text, keys)   # tries each key, checks length + CRC
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from wqmon.protocol.hj212.crc import CrcVariant, check_crc
from wqmon.protocol.hj212.sm4 import BLOCK, decrypt_blocks, encrypt_blocks

CP_OPEN = b"CP=&&"
CP_CLOSE = b"&&"
ENCRYPTED_MARK = CP_OPEN + b"{"
_HEX_BYTE = re.compile(rb"0[xX]([0-9A-Fa-f]{2})")
# The whole `0xHH,0xHH,...` list at once (one regex pass in C, not one match per byte).
_HEX_LIST = re.compile(rb"\s*0[xX][0-9A-Fa-f]{2}\s*(?:,\s*0[xX][0-9A-Fa-f]{2}\s*)*")

# Commands whose CP is encrypted when a key is in force: data (2000-2999), the key exchange
# (1014) and field information (3020). Answers, heartbeats and the rest stay plain.
ENCRYPTED_SINGLE_CNS = frozenset({"1014", "3020"})


def encrypts(cn: str) -> bool:
    """Whether a packet with this CN has its CP encrypted under HJ 212-2025."""
    return cn in ENCRYPTED_SINGLE_CNS or (len(cn) == 4 and cn.isdigit() and cn[0] == "2")  # noqa: PLR2004 - 4-digit CN


class DecryptError(ValueError):
    """An encrypted segment that does not decrypt to a valid data segment."""


def is_encrypted(segment: bytes) -> bool:
    """Whether a data segment as received carries an encrypted CP (`CP=&&{0x..`)."""
    return ENCRYPTED_MARK in segment


def _cp_bounds(segment: bytes) -> tuple[int, int]:
    start = segment.find(CP_OPEN)
    if start < 0:
        raise DecryptError("no CP=&& in the data segment")
    body = start + len(CP_OPEN)
    end = segment.rfind(CP_CLOSE, body)
    if end < 0:
        raise DecryptError("CP data area is not closed with &&")
    return body, end


def encrypt_segment(segment: str | bytes, key: bytes) -> bytes:
    """The segment as sent: its CP's whole blocks encrypted, the tail left plain."""
    data = segment.encode("utf-8") if isinstance(segment, str) else segment
    body, end = _cp_bounds(data)
    cp = data[body:end]
    whole = len(cp) - len(cp) % BLOCK
    blocks = encrypt_blocks(key, cp[:whole])
    braces = b"{" + b",".join(b"0x%02X" % b for b in blocks) + b"}" if blocks else b""
    return data[:body] + braces + cp[whole:] + data[end:]


def decrypt_segment(segment: bytes, key: bytes) -> bytes:
    """The plaintext segment of an encrypted one (not yet checked against length and CRC).

    Raises:
        DecryptError: No braces after `CP=&&`, malformed hex bytes, or not whole blocks.
    """
    body, end = _cp_bounds(segment)
    if not segment.startswith(b"{", body):
        raise DecryptError("CP is not encrypted (no '{' after CP=&&)")
    close = segment.find(b"}", body, end)
    if close < 0:
        raise DecryptError("encrypted CP has no closing '}'")
    inner = segment[body + 1 : close]
    if inner and _HEX_LIST.fullmatch(inner) is None:
        raise DecryptError("encrypted CP holds something other than 0xHH bytes")
    cipher = bytes.fromhex(b"".join(_HEX_BYTE.findall(inner)).decode("ascii"))
    if len(cipher) % BLOCK:
        raise DecryptError(f"encrypted CP is {len(cipher)} bytes, not whole {BLOCK}-byte blocks")
    plain = decrypt_blocks(key, cipher)
    return segment[:body] + plain + segment[close + 1 : end] + segment[end:]


@dataclass(frozen=True, slots=True)
class Opened:
    """An encrypted segment that decrypted to a segment whose length and CRC match."""

    segment: bytes  # the plaintext data segment
    key_index: int  # which of the keys tried opened it
    crc_variant: CrcVariant


def _plausible(declared: int | None, plain: bytes) -> bool:
    """Length as declared and text that decodes: a wrong key passes the 16-bit CRC by chance
    once in 65,536 tries, but its plaintext is random bytes, which are never valid UTF-8."""
    if declared is None:
        return False
    try:
        text = plain.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return declared in (len(plain), len(text))


def open_segment(
    segment: bytes, declared: int | None, crc_text: bytes, keys: Sequence[bytes]
) -> Opened:
    """Decrypt with each key in turn; the first whose plaintext matches length and CRC wins.

    Raises:
        DecryptError: No key given, a malformed encrypted CP, or no key gives a plaintext whose
            length and CRC match the frame (a wrong key, or a corrupted frame).
    """
    if not keys:
        raise DecryptError("encrypted packet but no SM4 key is set for this MN")
    for index, key in enumerate(keys):
        plain = decrypt_segment(segment, key)
        variant = check_crc(plain, crc_text)
        if variant is not CrcVariant.BAD and _plausible(declared, plain):
            return Opened(plain, index, variant)
    tried = "key" if len(keys) == 1 else f"any of {len(keys)} keys"
    raise DecryptError(f"does not decrypt with {tried} to a segment matching its length and CRC")
