"""The validity rule of channel-hours (docs/audit.md §4): explicit, configurable, sourced."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ValidityRule:
    """How a channel-hour is judged (docs/audit.md §4 gives sources and confidence).

    Attributes:
        min_valid_share: Share of an hour's readings (and of its time, against invalid marks)
            that must be valid; 1.0 = HJ 212-2017 Appendix C (any abnormal value, abnormal hour).
        shutdown_min_share: Share of an hour a shutdown mark must cover to make it a shutdown
            hour.
        shutdown_flags: Flags that count as a legitimate shutdown where a province uses a
            logger flag for it (none by default: HJ 212's `F` says the instrument stopped, not
            that the permit holder declared the facility stopped).
    """

    min_valid_share: float = 1.0
    shutdown_min_share: float = 0.5
    shutdown_flags: frozenset[str] = field(default_factory=frozenset)


DEFAULT_RULE = ValidityRule()
