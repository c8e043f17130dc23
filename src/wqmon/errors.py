"""The one error tree of wqmon.

    WqmonError
    ├── TransientError          retried with backoff by whoever owns the loop
    │   ├── StoreUnavailable    the database cannot be reached right now
    │   └── DeviceUnavailable   a meter, logger or broker does not answer
    └── PermanentError          never retried
        ├── ConfigError         bad settings or registry, raised at startup / import
        ├── FrameError          a frame that cannot be decoded (bad CRC, length, syntax)
        ├── PayloadError        a push payload that cannot be decoded or validated
        └── RejectedReading     one reading refused by validation (dead-lettered)

Errors carry their context as attributes, not only in the message.
"""

from __future__ import annotations


class WqmonError(Exception):
    """Base of every error raised on purpose by wqmon."""


class TransientError(WqmonError):
    """A failure that may go away: the caller backs off and retries."""


class StoreUnavailable(TransientError):
    """The database is unreachable or the connection dropped."""


class DeviceUnavailable(TransientError):
    """A field device, logger or broker did not answer."""

    def __init__(self, message: str, *, endpoint: str) -> None:
        super().__init__(f"{endpoint}: {message}")
        self.endpoint = endpoint


class PermanentError(WqmonError):
    """A failure that retrying will not fix."""


class ConfigError(PermanentError):
    """Invalid settings or registry content; the message names the entry and field."""


class FrameError(PermanentError):
    """A frame that cannot be decoded; keeps the raw bytes and the peer for the dead letter."""

    def __init__(self, reason: str, *, raw: bytes = b"", peer: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw
        self.peer = peer


class PayloadError(PermanentError):
    """A pushed payload (MQTT or HTTP) that cannot be decoded or validated."""

    def __init__(self, reason: str, *, raw: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


class RejectedReading(PermanentError):
    """One reading refused by validation; `reason` is a short stable code for metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
