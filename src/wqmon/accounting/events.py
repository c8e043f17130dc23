"""The audit trail of the cycle: one `accounting_event` row per step, in the step's transaction."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from wqmon.accounting.actor import Actor
from wqmon.balance.store import Conn


def record(  # noqa: PLR0917 - one row's columns, in the table's order
    conn: Conn,
    actor: Actor,
    action: str,
    region: str,
    year: int,
    subject: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Keep who did what to which account, report, plan or work, and what changed."""
    conn.execute(
        "INSERT INTO accounting_event (actor, role, action, region_code, year, subject, detail) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (
            actor.name,
            actor.role,
            action,
            region,
            year,
            subject,
            Jsonb({"key_id": actor.key_id} | (detail or {})),
        ),
    )


def trail(conn: Conn, region: str, year: int, subject_prefix: str = "") -> list[dict[str, Any]]:
    """The events of a region-year, oldest first (optionally only one kind of subject)."""
    cur = conn.execute(
        "SELECT id, at, actor, role, action, subject, detail FROM accounting_event "
        "WHERE region_code = %s AND year = %s AND subject LIKE %s ORDER BY id",
        (region, year, subject_prefix + "%"),
    )
    return [
        {
            "id": i,
            "at": at.isoformat(),
            "actor": who,
            "role": role,
            "action": action,
            "subject": subject,
            "detail": detail,
        }
        for i, at, who, role, action, subject, detail in cur
    ]
