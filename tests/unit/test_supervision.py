"""The one backoff formula and the one supervisor (wqmon.supervision)."""

from __future__ import annotations

import asyncio
import logging
import random
import statistics

import pytest
from prometheus_client import CollectorRegistry

from wqmon.errors import ConfigError
from wqmon.supervision import backoff, restart_counter, supervise


def test_backoff_after_ten_thousand_failures_stays_within_the_cap() -> None:
    for failures in (1_000, 1_024, 1_025, 10_000, 10**9):
        delays = [backoff(failures, base_s=0.5, cap_s=30.0) for _ in range(1_000)]
        assert all(0.0 <= d <= 30.0 for d in delays)


def test_backoff_is_full_jitter_under_the_exponential_ceiling() -> None:
    random.seed(14)
    n = 20_000
    for failures, ceiling in ((0, 0.5), (1, 1.0), (3, 4.0), (6, 30.0), (500, 30.0)):
        delays = [backoff(failures, base_s=0.5, cap_s=30.0) for _ in range(n)]
        assert max(delays) <= ceiling
        # Uniform on [0, ceiling]: mean c/2, stdev c/sqrt(12); the mean's standard error is
        # c/sqrt(12 n), so 6 of them is a bound a correct draw essentially never crosses.
        tolerance = 6 * ceiling / (12 * n) ** 0.5
        assert abs(statistics.fmean(delays) - ceiling / 2) < tolerance
        assert min(delays) < ceiling * 0.01  # reaches down to zero: full, not equal, jitter
        assert max(delays) > ceiling * 0.99


def test_backoff_of_a_negative_count_is_the_base() -> None:
    assert all(0.0 <= backoff(-5, base_s=0.5, cap_s=30.0) <= 0.5 for _ in range(100))


def test_restart_counter_is_registered_once_per_registry() -> None:
    registry = CollectorRegistry()
    assert restart_counter(registry) is restart_counter(registry)
    assert restart_counter(CollectorRegistry()) is not restart_counter(registry)


async def test_a_failing_task_is_restarted_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 5:
            raise RuntimeError(f"boom {runs}")
        await asyncio.sleep(3600)

    caplog.set_level(logging.DEBUG, logger="wqmon.supervision")
    task = asyncio.create_task(
        supervise("flaky", flaky, restarts=restart_counter(registry), base_s=0.001, cap_s=0.01)
    )
    for _ in range(500):
        if runs == 6:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runs == 6
    value = registry.get_sample_value("wqmon_task_restarts_total", {"task": "flaky"})
    assert value == 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # repeats within a minute are rate-limited to DEBUG
    assert warnings[0].exc_info is not None
    assert "boom 1" in warnings[0].getMessage()


async def test_a_task_that_returns_is_restarted_as_a_failure() -> None:
    registry = CollectorRegistry()
    runs = 0

    async def returns_twice() -> None:
        nonlocal runs
        runs += 1
        if runs > 2:
            await asyncio.sleep(3600)

    task = asyncio.create_task(
        supervise("short", returns_twice, restarts=restart_counter(registry), base_s=0.001)
    )
    while runs < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert registry.get_sample_value("wqmon_task_restarts_total", {"task": "short"}) == 2


async def test_a_permanent_error_goes_to_the_owner_and_is_not_retried() -> None:
    runs = 0
    told: list[tuple[str, BaseException]] = []

    async def misconfigured() -> None:
        nonlocal runs
        runs += 1
        raise ConfigError("registry: site X has no points")

    await asyncio.wait_for(
        supervise("cfg", misconfigured, on_permanent=lambda n, e: told.append((n, e))), 10
    )
    assert runs == 1
    assert [(n, str(e)) for n, e in told] == [("cfg", "registry: site X has no points")]


async def test_a_permanent_error_without_an_owner_is_raised() -> None:
    async def misconfigured() -> None:
        raise ConfigError("bad")

    with pytest.raises(ConfigError, match="bad"):
        await asyncio.wait_for(supervise("cfg", misconfigured), 10)


async def test_cancellation_turned_into_an_error_still_stops_the_task() -> None:
    started = asyncio.Event()
    runs = 0

    async def swallows() -> None:
        nonlocal runs
        runs += 1
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError as exc:
            raise OSError("request cancelled") from exc

    task = asyncio.create_task(supervise("swallower", swallows, base_s=0.001))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)
    assert runs == 1
