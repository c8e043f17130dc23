"""Marking dirty rollup hours inside the storing transaction (the API process's pushes).

`wqmon ingest` marks hours through `RollupMaintainer.on_commit` (a commit listener that writes
`rollup_dirty` from a task). A process that stores readings without a maintainer of its own —
`wqmon api`, whose pipeline stores HTTP pushes — marks them with `mark_dirty` instead, as a
writer hook: the marks commit with the rows or not at all, so no push is ever missing from the
rollups, and ingest's rollup worker recomputes them (docs/balance.md, "Keeping rollups current").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from wqmon.balance.job import INSERT_MARKS_SQL, affected_hours, changed_hours, marks_columns
from wqmon.balance.records import DEFAULT_SETTINGS, RollupSettings
from wqmon.model import PeriodRecord, Reading


async def mark_dirty(
    conn: psycopg.AsyncConnection[Any],
    readings: Sequence[Reading],
    periods: list[PeriodRecord],
    settings: RollupSettings = DEFAULT_SETTINGS,
) -> int:
    """Insert the (point, hour) marks of newly stored rows on `conn`; returns how many."""
    changed = list(changed_hours(readings, periods))
    if not changed:
        return 0
    cur = await conn.execute(
        "SELECT id, point_id, parameter FROM channel WHERE id = ANY(%s)",
        (sorted({cid for cid, _, _ in changed}),),
    )
    located = {cid: (pid, code) for cid, pid, code in await cur.fetchall()}
    marks: set[tuple[int, Any]] = set()
    for cid, kind, ts in changed:
        if cid in located:
            point_id, code = located[cid]
            hour = ts.replace(minute=0, second=0, microsecond=0)
            marks.update((point_id, h) for h in affected_hours(code, kind, hour, settings))
    if marks:
        await conn.execute(INSERT_MARKS_SQL, marks_columns(marks))
    return len(marks)
