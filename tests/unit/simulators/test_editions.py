"""The simulated field mixes HJ 212-2017 and HJ 212-2025 loggers, half of the 2025 ones encrypting."""

from __future__ import annotations

from datetime import UTC, datetime

from wqmon.simulators.scenarios import build


def test_city_has_2017_plain_2025_and_encrypted_2025_loggers() -> None:
    scenario = build("city", seed=1, anchor=datetime(2026, 3, 1, tzinfo=UTC))
    editions = [(t.edition, t.key is not None) for t in scenario.loggers]
    assert (2017, False) in editions
    assert (2025, False) in editions
    assert (2025, True) in editions
    assert all(key is False for edition, key in editions if edition == 2017)
    keys = [t.key for t in scenario.loggers if t.key is not None]
    assert len(set(keys)) == len(keys)  # a key per MN
    again = build("city", seed=1, anchor=datetime(2026, 3, 1, tzinfo=UTC))
    assert [t.key for t in again.loggers] == [t.key for t in scenario.loggers]  # same field
