"""SM4 (GB/T 32907) in ECB mode without padding, as HJ 212-2025 uses it (docs/field-facts.md §11).

A thin wrapper over `cryptography`'s SM4: the key is 16 bytes, the data a whole number of 16-byte
blocks (the caller leaves the tail in plain text). Pure: no I/O, no logging — keys never leave
the caller's hands.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16  # SM4 block and key size, bytes
KEY_HEX_LENGTH = 2 * BLOCK


class BadKey(ValueError):
    """A key that is not 32 hexadecimal characters (16 bytes)."""


def parse_key(text: str) -> bytes:
    """The 16 key bytes of a 32-character hex string (spaces and letter case ignored).

    Raises:
        BadKey: Not exactly 32 hex digits.
    """
    cleaned = "".join(text.split())
    if len(cleaned) != KEY_HEX_LENGTH:
        raise BadKey(f"an SM4 key is {KEY_HEX_LENGTH} hex characters, got {len(cleaned)}")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise BadKey("an SM4 key must be hexadecimal (0-9, A-F)") from None


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key, to tell keys apart in listings and logs."""
    return hashlib.sha256(b"wqmon-hj212-sm4:" + key).hexdigest()[:8]


def _cipher(key: bytes) -> Cipher[modes.ECB]:
    if len(key) != BLOCK:
        raise BadKey(f"an SM4 key is {BLOCK} bytes, got {len(key)}")
    return Cipher(algorithms.SM4(key), modes.ECB())  # noqa: S305 - ECB is what the standard specifies


def _check_blocks(data: bytes) -> None:
    if len(data) % BLOCK:
        raise ValueError(
            f"SM4/ECB without padding needs whole {BLOCK}-byte blocks, got {len(data)}"
        )


def encrypt_blocks(key: bytes, data: bytes) -> bytes:
    """Encrypt whole blocks."""
    _check_blocks(data)
    encryptor = _cipher(key).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def decrypt_blocks(key: bytes, data: bytes) -> bytes:
    """Decrypt whole blocks."""
    _check_blocks(data)
    decryptor = _cipher(key).decryptor()
    return decryptor.update(data) + decryptor.finalize()
