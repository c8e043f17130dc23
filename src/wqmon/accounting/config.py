"""Settings of the accounting cycle, taken from `wqmon.settings.Settings`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from wqmon.balance.regions import DEFAULT_REGION_SETTINGS, RegionSettings


@dataclass(frozen=True, slots=True)
class AccountingConfig:
    """What the cycle needs besides the database.

    Attributes:
        deadline_month_day: Submissions are due on this day of the following year (the
            policy: 30 April); a city may set another date per year.
        region: Targets and thresholds of the action categories.
    """

    deadline_month_day: tuple[int, int] = (4, 30)
    region: RegionSettings = field(default_factory=lambda: DEFAULT_REGION_SETTINGS)

    def default_deadline(self, year: int) -> date:
        month, day = self.deadline_month_day
        return date(year + 1, month, day)


def parse_month_day(text: str) -> tuple[int, int]:
    """ "04-30" → (4, 30); ValueError for anything that is not a day of a (leap) year."""
    try:
        month, day = (int(part) for part in text.split("-"))
        date(2000, month, day)
    except ValueError as exc:
        raise ValueError(f"accounting deadline {text!r}: use MM-DD, e.g. 04-30") from exc
    return month, day


def config_from(deadline: str, min_coverage: float) -> AccountingConfig:
    return AccountingConfig(
        parse_month_day(deadline), replace(DEFAULT_REGION_SETTINGS, min_coverage=min_coverage)
    )
