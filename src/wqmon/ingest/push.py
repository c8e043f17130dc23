"""One pushed body (MQTT message or HTTP request) to one envelope: shared by both push sources.

The body is decoded by `wqmon.protocol.push`; this module adds what a source needs around it:
the reason codes of a refused body and the dead letters of the readings refused at decoding.
"""

from __future__ import annotations

from datetime import datetime

from wqmon.errors import PayloadError
from wqmon.ingest.envelope import Envelope
from wqmon.model import DeadLetter, Source
from wqmon.protocol.push import decode_body


class BodyRefused(Exception):
    """A body refused as a whole: `reason` is the dead-letter code, `detail` says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason  # malformed_json | invalid_payload | site_not_allowed
        self.detail = detail


def envelope_from_body(
    raw: bytes,
    *,
    source: Source,
    peer: str,
    allowed_sites: frozenset[str],
    received: datetime,
) -> Envelope:
    """The envelope of a pushed body whose site the pusher may write.

    Raises:
        BodyRefused: the body cannot be decoded, or names a site outside `allowed_sites`.
    """
    try:
        body = decode_body(raw)
    except PayloadError as exc:
        reason = "malformed_json" if exc.reason.startswith("malformed") else "invalid_payload"
        raise BodyRefused(reason, exc.reason) from exc
    if body.site not in allowed_sites:
        raise BodyRefused("site_not_allowed", f"{peer} may not write site {body.site!r}")
    rejected = [
        DeadLetter(source, peer, item, "invalid_reading", why, received)
        for item, why in body.refused
    ]
    return Envelope(
        source,
        peer,
        body.readings,
        rejected=rejected,
        allowed_sites=allowed_sites,
        received_at=received,
    )
