"""Region-year accounts through the cycle: open, enter inputs, submit, return, approve, reopen.

States (docs/accounting.md): `draft` (the county edits) → `submitted` (frozen as version n) →
`returned` (the city commented; the county edits again) or `approved`. A county may reopen an
approved account to correct it; the approved version stays published until a new one is
approved. Every step writes an `accounting_event` in the same transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from psycopg.types.json import Jsonb

from wqmon.accounting.actor import Actor
from wqmon.accounting.config import AccountingConfig
from wqmon.accounting.errors import AccountingError, ConflictError, NotFoundError
from wqmon.accounting.events import record, trail
from wqmon.accounting.figures import Json, differences, figure_labels
from wqmon.accounting.inputs import INPUTS, REQUIRED, InputKind, check_value
from wqmon.accounting.live import input_rows, live_snapshot
from wqmon.accounting.quality import new_records
from wqmon.balance.store import Conn

ACCOUNT_KINDS = ("county", "park")  # the regions that account; a city reports


@dataclass(frozen=True, slots=True)
class InputEntry:
    """A department input as entered: the value and where it comes from."""

    kind: InputKind
    value: float
    source_department: str
    document_ref: str
    document_date: date
    note: str = ""


@dataclass(frozen=True, slots=True)
class Comment:
    """A reviewer's comment on one figure or input (`figure` None: on the whole account)."""

    figure: str | None
    comment: str


def _subject(region: str, year: int) -> str:
    return f"account {region}/{year}"


def _region_kind(conn: Conn, region: str) -> str:
    row = conn.execute("SELECT kind FROM region WHERE code = %s", (region,)).fetchone()
    if row is None:
        raise NotFoundError(f"unknown region {region!r}")
    return str(row[0])


def _locked(conn: Conn, region: str, year: int) -> tuple[str, int]:
    row = conn.execute(
        "SELECT state, version FROM account WHERE region_code = %s AND year = %s FOR UPDATE",
        (region, year),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no account for {region} {year}: open it first")
    return str(row[0]), int(row[1])


def _set_state(conn: Conn, region: str, year: int, state: str, version: int) -> None:
    conn.execute(
        "UPDATE account SET state = %s, version = %s, updated_at = now() "
        "WHERE region_code = %s AND year = %s",
        (state, version, region, year),
    )


def open_account(conn: Conn, actor: Actor, region: str, year: int) -> None:
    """Open a region-year account as a draft (a county, for its own regions)."""
    actor.require("county", region)
    kind = _region_kind(conn, region)
    if kind not in ACCOUNT_KINDS:
        raise AccountingError(f"{region} is a {kind}: only counties and parks keep accounts")
    with conn.transaction():
        inserted = conn.execute(
            "INSERT INTO account (region_code, year, opened_by) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            (region, year, actor.name),
        ).fetchone()
        if inserted is None:
            raise ConflictError(f"the account {region} {year} is already open")
        record(conn, actor, "opened", region, year, _subject(region, year))


def _editable(state: str, region: str, year: int) -> None:
    if state not in ("draft", "returned"):
        raise ConflictError(
            f"the account {region} {year} is {state}: only a draft or returned account is edited"
        )


def set_input(conn: Conn, actor: Actor, region: str, year: int, entry: InputEntry) -> None:
    """Enter (or replace) a department input; the replaced value stays in the history."""
    actor.require("county", region)
    check_value(entry.kind, entry.value)
    if not entry.source_department.strip() or not entry.document_ref.strip():
        raise AccountingError("an input needs its source department and document reference")
    with conn.transaction():
        state, _ = _locked(conn, region, year)
        _editable(state, region, year)
        old = conn.execute(
            "UPDATE account_input SET replaced_at = now() WHERE region_code = %s AND year = %s "
            "AND kind = %s AND replaced_at IS NULL RETURNING value, source_department, "
            "document_ref",
            (region, year, entry.kind.value),
        ).fetchone()
        conn.execute(
            "INSERT INTO account_input (region_code, year, kind, value, source_department, "
            "document_ref, document_date, note, entered_by) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                region,
                year,
                entry.kind.value,
                entry.value,
                entry.source_department.strip(),
                entry.document_ref.strip(),
                entry.document_date,
                entry.note,
                actor.name,
            ),
        )
        conn.execute(
            "UPDATE account SET updated_at = now() WHERE region_code = %s AND year = %s",
            (region, year),
        )
        before = None if old is None else {"value": old[0], "source": old[1], "document": old[2]}
        record(
            conn,
            actor,
            "input_set",
            region,
            year,
            _subject(region, year),
            {
                "kind": entry.kind.value,
                "before": before,
                "after": {
                    "value": entry.value,
                    "source": entry.source_department,
                    "document": entry.document_ref,
                    "document_date": entry.document_date.isoformat(),
                },
            },
        )


def submit(conn: Conn, actor: Actor, region: str, year: int, config: AccountingConfig) -> int:
    """Freeze the account as its next version and submit it for review; returns the version."""
    actor.require("county", region)
    with conn.transaction():
        state, version = _locked(conn, region, year)
        _editable(state, region, year)
        present = {str(r["kind"]) for r in input_rows(conn, region, year)}
        missing = [k.value for k in REQUIRED if k.value not in present]
        if missing:
            raise AccountingError(f"enter {', '.join(missing)} before submitting")
        snapshot = live_snapshot(conn, region, year, config.region)
        snapshot["version"] = version + 1
        snapshot["frozen_at"] = datetime.now(UTC).isoformat()
        conn.execute(
            "INSERT INTO account_version (region_code, year, version, state, snapshot, "
            "submitted_by) VALUES (%s, %s, %s, 'submitted', %s, %s)",
            (region, year, version + 1, Jsonb(snapshot), actor.name),
        )
        _set_state(conn, region, year, "submitted", version + 1)
        record(
            conn,
            actor,
            "submitted",
            region,
            year,
            _subject(region, year),
            {"version": version + 1, "figures": _headline(snapshot)},
        )
    return version + 1


def _headline(snapshot: Json) -> Json:
    figures = snapshot["figures"]
    keys = ("produced_kg", "collected_kg", "reduced_kg", "collection_rate")
    return {k: figures[k]["value"] for k in keys}


def _decide(conn: Conn, actor: Actor, region: str, year: int, verdict: str) -> int:
    actor.require("city", region)
    state, version = _locked(conn, region, year)
    if state != "submitted":
        raise ConflictError(f"the account {region} {year} is {state}, not submitted")
    conn.execute(
        "UPDATE account_version SET state = %s, decided_at = now(), decided_by = %s "
        "WHERE region_code = %s AND year = %s AND version = %s",
        (verdict, actor.name, region, year, version),
    )
    _set_state(conn, region, year, verdict, version)
    return version


def return_account(
    conn: Conn, actor: Actor, region: str, year: int, comments: Sequence[Comment]
) -> int:
    """The city sends the submitted version back with comments (at least one)."""
    if not comments or any(not c.comment.strip() for c in comments):
        raise AccountingError("returning an account needs at least one non-empty comment")
    _check_figures(comments)
    with conn.transaction():
        version = _decide(conn, actor, region, year, "returned")
        _comment(conn, actor, region, year, version, comments)
        record(
            conn,
            actor,
            "returned",
            region,
            year,
            _subject(region, year),
            {"version": version, "comments": [dataclasses.asdict(c) for c in comments]},
        )
    return version


def approve(
    conn: Conn, actor: Actor, region: str, year: int, comments: Sequence[Comment] = ()
) -> int:
    """The city approves the submitted version (optionally with comments)."""
    _check_figures(comments)
    with conn.transaction():
        version = _decide(conn, actor, region, year, "approved")
        _comment(conn, actor, region, year, version, comments)
        record(
            conn,
            actor,
            "approved",
            region,
            year,
            _subject(region, year),
            {"version": version, "comments": [dataclasses.asdict(c) for c in comments]},
        )
    return version


def reopen(conn: Conn, actor: Actor, region: str, year: int, reason: str) -> None:
    """A county takes an approved account back to draft to correct it (needs a reason)."""
    actor.require("county", region)
    if not reason.strip():
        raise AccountingError("reopening an approved account needs a reason")
    with conn.transaction():
        state, version = _locked(conn, region, year)
        if state != "approved":
            raise ConflictError(f"the account {region} {year} is {state}; only approved reopens")
        _set_state(conn, region, year, "draft", version)
        record(
            conn,
            actor,
            "reopened",
            region,
            year,
            _subject(region, year),
            {"version": version, "reason": reason},
        )


def _check_figures(comments: Sequence[Comment]) -> None:
    from wqmon.accounting.figures import LABELS  # noqa: PLC0415 - a constant, kept near use

    known = set(LABELS) | {k.value for k in INPUTS}
    for c in comments:
        if c.figure is not None and c.figure not in known:
            raise AccountingError(f"unknown figure {c.figure!r} in a comment")


def _comment(  # noqa: PLR0917 - the comment rows' key, in the table's order
    conn: Conn, actor: Actor, region: str, year: int, version: int, comments: Sequence[Comment]
) -> None:
    for c in comments:
        conn.execute(
            "INSERT INTO account_comment (region_code, year, version, figure, comment, author) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (region, year, version, c.figure, c.comment.strip(), actor.name),
        )


# --- reading -------------------------------------------------------------------------------


def deadline(conn: Conn, region: str, year: int, config: AccountingConfig) -> date:
    """When the region's account for the year is due: its city's date, else the setting."""
    row = conn.execute(
        "WITH RECURSIVE up(code, parent) AS ("
        " SELECT code, parent_code FROM region WHERE code = %s"
        " UNION SELECT r.code, r.parent_code FROM region r JOIN up ON r.code = up.parent)"
        " SELECT d.due_on FROM accounting_deadline d JOIN up ON d.region_code = up.code"
        " WHERE d.year = %s ORDER BY d.due_on LIMIT 1",
        (region, year),
    ).fetchone()
    return row[0] if row is not None else config.default_deadline(year)


def set_deadline(conn: Conn, actor: Actor, city: str, year: int, due: date) -> None:
    """A city sets the deadline of its counties' accounts for a year."""
    actor.require("city", city)
    if _region_kind(conn, city) != "city":
        raise AccountingError(f"{city} is not a city")
    if due <= date(year, 12, 31):
        raise AccountingError("the deadline must fall after the year it accounts")
    with conn.transaction():
        old = conn.execute(
            "SELECT due_on FROM accounting_deadline WHERE region_code = %s AND year = %s",
            (city, year),
        ).fetchone()
        conn.execute(
            "INSERT INTO accounting_deadline (region_code, year, due_on, set_by) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (region_code, year) DO UPDATE "
            "SET due_on = excluded.due_on, set_by = excluded.set_by, set_at = now()",
            (city, year, due, actor.name),
        )
        record(
            conn,
            actor,
            "deadline_set",
            city,
            year,
            f"deadline {city}/{year}",
            {"before": old[0].isoformat() if old else None, "after": due.isoformat()},
        )


def version_snapshot(conn: Conn, region: str, year: int, version: int) -> Json:
    row = conn.execute(
        "SELECT snapshot FROM account_version WHERE region_code = %s AND year = %s "
        "AND version = %s",
        (region, year, version),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no version {version} of the account {region} {year}")
    snapshot: Json = row[0]
    return snapshot


def latest_approved(conn: Conn, region: str, year: int) -> tuple[int, Json] | None:
    """The newest approved version of a region-year (what reports and publication use)."""
    row = conn.execute(
        "SELECT version, snapshot FROM account_version WHERE region_code = %s AND year = %s "
        "AND state = 'approved' ORDER BY version DESC LIMIT 1",
        (region, year),
    ).fetchone()
    return None if row is None else (int(row[0]), row[1])


def _versions(conn: Conn, region: str, year: int) -> list[Json]:
    cur = conn.execute(
        "SELECT version, state, submitted_at, submitted_by, decided_at, decided_by "
        "FROM account_version WHERE region_code = %s AND year = %s ORDER BY version",
        (region, year),
    )
    return [
        {
            "version": v,
            "state": s,
            "submitted_at": sa.isoformat(),
            "submitted_by": sb,
            "decided_at": da.isoformat() if da else None,
            "decided_by": db,
        }
        for v, s, sa, sb, da, db in cur
    ]


def _comments(conn: Conn, region: str, year: int) -> list[Json]:
    cur = conn.execute(
        "SELECT id, version, figure, comment, author, at FROM account_comment "
        "WHERE region_code = %s AND year = %s ORDER BY id",
        (region, year),
    )
    return [
        {"id": i, "version": v, "figure": f, "comment": c, "author": a, "at": at.isoformat()}
        for i, v, f, c, a, at in cur
    ]


def account_view(
    conn: Conn, actor: Actor, region: str, year: int, config: AccountingConfig
) -> Json:
    """Everything about a region-year account: state, deadline, inputs with history, the live
    figures, the newest frozen version and how the live figures differ from it, versions,
    comments and the audit trail."""
    actor.require_read(region)
    kind = _region_kind(conn, region)
    row = conn.execute(
        "SELECT state, version, opened_at, opened_by, updated_at FROM account "
        "WHERE region_code = %s AND year = %s",
        (region, year),
    ).fetchone()
    live = live_snapshot(conn, region, year, config.region)
    view: Json = {
        "region": region,
        "name": live["name"],
        "kind": kind,
        "year": year,
        "deadline": deadline(conn, region, year, config).isoformat(),
        "state": "not_opened" if row is None else row[0],
        "version": 0 if row is None else row[1],
        "opened_at": row[2].isoformat() if row else None,
        "opened_by": row[3] if row else None,
        "live": live,
        "frozen": None,
        "differences": {},
        "audit_changes": {},
        "input_history": input_rows(conn, region, year, current=False),
        "input_kinds": {
            k.value: {"unit": s.unit, "zh": s.zh, "en": s.en, "department": s.department}
            for k, s in INPUTS.items()
        },
        "labels": figure_labels(),
        "versions": _versions(conn, region, year),
        "comments": _comments(conn, region, year),
        "events": trail(conn, region, year, "account"),
    }
    if row is not None and row[1] > 0:
        frozen = version_snapshot(conn, region, year, row[1])
        view["frozen"] = frozen
        view["differences"] = differences(frozen["figures"], live["figures"])
        view["audit_changes"] = new_records(frozen["quality"], live["quality"])
    return view


def review_list(conn: Conn, actor: Actor, year: int, config: AccountingConfig) -> list[Json]:
    """Every county and park account the actor may see for the year, opened or not, with its
    state, newest version, deadline and whether it is late or overdue."""
    today = datetime.now(UTC).date()
    cur = conn.execute(
        "SELECT r.code, r.name, r.kind, r.parent_code, a.state, a.version, "
        " (SELECT min(submitted_at) FROM account_version v WHERE v.region_code = r.code "
        "  AND v.year = %s), "
        " (SELECT max(submitted_at) FROM account_version v WHERE v.region_code = r.code "
        "  AND v.year = %s) "
        "FROM region r LEFT JOIN account a ON a.region_code = r.code AND a.year = %s "
        "WHERE r.kind = ANY(%s) ORDER BY r.parent_code NULLS FIRST, r.code",
        (year, year, year, list(ACCOUNT_KINDS)),
    )
    out: list[Json] = []
    for code, name, kind, parent, state, version, first, last in cur.fetchall():
        if not actor.may_read(code):
            continue
        due = deadline(conn, code, year, config)
        has_submitted = first is not None
        out.append(
            {
                "region": code,
                "name": name,
                "kind": kind,
                "parent": parent,
                "state": state or "not_opened",
                "version": version or 0,
                "first_submitted_at": first.isoformat() if has_submitted else None,
                "last_submitted_at": last.isoformat() if has_submitted else None,
                "deadline": due.isoformat(),
                # Judged on the first submission: a correction asked for later is not late.
                "late": has_submitted and first.date() > due,
                "overdue": not has_submitted and today > due,
            }
        )
    return out


def current_input_values(conn: Conn, region: str, year: int) -> dict[str, Any]:
    return {str(r["kind"]): r["value"] for r in input_rows(conn, region, year)}
