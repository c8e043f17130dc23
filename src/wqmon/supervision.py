"""One backoff formula and one supervisor for every long-running task (docs/adr/0009).

`backoff()` is capped full jitter (a delay drawn from [0, min(cap, base·2ⁿ)]), safe for any
failure count: the exponent is clamped before the power is taken, so a task that failed a
million times waits `cap` at most instead of raising OverflowError.

`supervise()` runs a task forever. A task that ends unexpectedly — raises, or returns when it
should run until cancelled — is logged with its traceback (the first time at WARNING; repeats
at most once a minute, the others at DEBUG), counted in `wqmon_task_restarts_total{task}` and
restarted after `backoff()`. A permanent error (bad configuration) is not retried: the
supervisor hands it to `on_permanent` (the owning service stops and the process exits non-zero)
or, without one, raises it. Cancellation always wins, even when a library turned it into an
error.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from wqmon.errors import PermanentError

log = logging.getLogger(__name__)

TaskFactory = Callable[[], Awaitable[Any]]
PermanentHandler = Callable[[str, BaseException], None]

_MAX_EXPONENT = 64  # 2**64 · base is past any cap; larger exponents would overflow a float
_REPEAT_LOG_S = 60.0  # a task failing in a loop logs a WARNING at most this often
_restart_counters: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = (
    weakref.WeakKeyDictionary()
)


def backoff(failures: int, *, base_s: float, cap_s: float) -> float:
    """A full-jitter delay after `failures` consecutive failures: uniform in
    [0, min(cap_s, base_s · 2**failures)], for any failure count."""
    exponent = min(max(failures, 0), _MAX_EXPONENT)
    ceiling = min(cap_s, base_s * float(2**exponent))
    return random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not cryptography


def restart_counter(registry: CollectorRegistry) -> Counter:
    """`wqmon_task_restarts_total{task}` of a registry, registered once per registry."""
    counter = _restart_counters.get(registry)
    if counter is None:
        counter = Counter(
            "wqmon_task_restarts",
            "Long-running tasks restarted after they ended unexpectedly",
            ["task"],
            registry=registry,
        )
        _restart_counters[registry] = counter
    return counter


class TaskEnded(RuntimeError):
    """A task meant to run until cancelled returned (or its child process exited)."""


class TaskFailed(PermanentError):
    """A supervised task failed permanently; the owning service stops and reports this."""

    def __init__(self, task: str, cause: BaseException) -> None:
        super().__init__(f"{task}: {cause}")
        self.task = task
        self.cause = cause


class _FailureLog:
    """Logs the first failure with its traceback, then at most one WARNING a minute."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures = 0
        self._last_warning = -_REPEAT_LOG_S
        self._quiet = 0

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        now = time.monotonic()
        if self.failures == 1 or now - self._last_warning >= _REPEAT_LOG_S:
            more = f" ({self._quiet} more failures since the last report)" if self._quiet else ""
            log.warning(
                "task %s ended unexpectedly: %s%s; restarting",
                self.name,
                exc,
                more,
                exc_info=exc,
            )
            self._last_warning, self._quiet = now, 0
        else:
            self._quiet += 1
            log.debug("task %s failed again: %s", self.name, exc)


async def supervise(
    name: str,
    run: TaskFactory,
    *,
    restarts: Counter | None = None,
    base_s: float = 0.5,
    cap_s: float = 30.0,
    permanent: tuple[type[BaseException], ...] = (PermanentError,),
    on_permanent: PermanentHandler | None = None,
    restart_on_return: bool = True,
) -> None:
    """Run `run()` until cancelled, restarting it with backoff whenever it ends.

    Args:
        name: The task's name in logs and in the restart counter's `task` label.
        run: Makes a fresh awaitable for each start (a coroutine function, a lambda).
        restarts: The counter to increment per restart (see `restart_counter`).
        base_s, cap_s: Backoff bounds; a run longer than `cap_s` resets the failure count.
        permanent: Errors that retrying will not fix.
        on_permanent: Told of a permanent error (then the supervisor returns); without it
            the error is raised.
        restart_on_return: False for a task whose return means "done" (a driver's contract).
    """
    failures = _FailureLog(name)
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await run()
        except Exception as exc:
            _stop_if_cancelling(exc)
            if isinstance(exc, permanent):
                _permanent(name, exc, on_permanent)
                return
            problem: BaseException = exc
        else:
            if not restart_on_return:
                return
            problem = TaskEnded(f"{name} returned")
        if loop.time() - started > cap_s:
            failures.failures = 0  # it ran cleanly for a while: start the backoff afresh
        failures.failed(problem)
        if restarts is not None:
            restarts.labels(task=name).inc()
        await asyncio.sleep(backoff(failures.failures, base_s=base_s, cap_s=cap_s))


def start_supervised(name: str, run: TaskFactory, **options: Any) -> asyncio.Task[None]:
    """`supervise()` in a task of the same name (the form every service uses)."""
    return asyncio.create_task(supervise(name, run, **options), name=name)


def _stop_if_cancelling(exc: Exception) -> None:
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        # A library turned our cancellation into an error (pymodbus does, into an I/O error):
        # stopping wins, or the task would be restarted and never end.
        raise asyncio.CancelledError from exc


def _permanent(name: str, exc: Exception, on_permanent: PermanentHandler | None) -> None:
    if on_permanent is None:
        log.error("task %s failed permanently: %s", name, exc, exc_info=exc)
        raise exc
    # The owner reports it (one line at the CLI: a configuration error needs no traceback).
    log.debug("task %s failed permanently", name, exc_info=exc)
    on_permanent(name, exc)
