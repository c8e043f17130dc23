"""The city's assessment report: its counties' approved accounts summed, frozen per version,
with the province's findings recorded against a version.

The report adds the frozen totals of the latest approved version of each county and park
directly under the city (each nests its own children, as the registry says) to the city's own
area, computed when the report is made; every rate is recomputed from the sums
(docs/balance.md §3). Making the report freezes it as a new version.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from psycopg.types.json import Jsonb

from wqmon.accounting.accounts import ACCOUNT_KINDS, latest_approved
from wqmon.accounting.actor import Actor
from wqmon.accounting.config import AccountingConfig
from wqmon.accounting.errors import AccountingError, ConflictError, NotFoundError
from wqmon.accounting.events import record, trail
from wqmon.accounting.figures import (
    Json,
    account_figures,
    build_snapshot,
    decision,
    sources_of,
    totals_of,
)
from wqmon.accounting.live import input_rows, subtree_sources, year_bounds
from wqmon.accounting.quality import audit_summary
from wqmon.balance.queries import jsonable, region_periods
from wqmon.balance.regions import RegionAccount, region_account
from wqmon.balance.registry_view import Registry, load_registry
from wqmon.balance.store import Conn


def _own_area(registry: Registry, city: str) -> Registry:
    """The registry with the city cut off from its children: its own plants and population."""
    ref = dataclasses.replace(registry.region(city), children=[])
    return Registry(registry.regions | {city: ref}, registry.sites)


def _approved_children(conn: Conn, registry: Registry, city: str, year: int) -> list[Json]:
    children = [
        registry.regions[c]
        for c in registry.region(city).children
        if registry.regions[c].kind in ACCOUNT_KINDS
    ]
    missing, found = [], []
    for child in children:
        state = conn.execute(
            "SELECT state FROM account WHERE region_code = %s AND year = %s",
            (child.code, year),
        ).fetchone()
        approved = latest_approved(conn, child.code, year)
        if state is None or state[0] != "approved" or approved is None:
            missing.append(f"{child.code} ({state[0] if state else 'not opened'})")
        else:
            version, snapshot = approved
            found.append(snapshot | {"version": version})
    if missing:
        raise ConflictError(f"not every account is approved: {', '.join(missing)}")
    return found


def aggregate(conn: Conn, city: str, year: int, config: AccountingConfig) -> Json:
    """The city's account from its children's approved snapshots plus its own area now."""
    registry = load_registry(conn)
    children = _approved_children(conn, registry, city, year)
    start, end = year_bounds(year)
    own_registry = _own_area(registry, city)
    [own] = region_periods(conn, own_registry, city, start, end, settings=config.region)
    child_accounts: list[RegionAccount] = [
        region_account(c["region"], totals_of(c), start=start, end=end, settings=config.region)
        for c in children
    ]
    account = region_account(
        city,
        own.account.totals,
        start=start,
        end=end,
        children=child_accounts,
        settings=config.region,
    )
    own_sources = subtree_sources(own_registry, city, year)
    sources = own_sources
    for c in children:
        sources += sources_of(c)
    own_snapshot = build_snapshot(
        own,
        registry,
        year=year,
        sources=own_sources,
        inputs=[],
        quality=audit_summary(conn, [s.code for s in registry.region(city).sites], start, end),
        settings=config.region,
    )
    return {
        "region": city,
        "name": registry.region(city).name,
        "year": year,
        "figures": account_figures(account, sources),
        "totals": jsonable(account.totals),
        "decision": decision(account, config.region),
        "targets": jsonable(account.targets),
        "own_area": own_snapshot,
        "children": [
            {
                "region": c["region"],
                "name": c["name"],
                "kind": c["kind"],
                "account_version": c["version"],
                "figures": c["figures"],
                "decision": c["decision"],
                "inputs": c["inputs"],
            }
            for c in children
        ],
        "plants": [p for c in children for p in c["plants"]] + own_snapshot["plants"],
        "enterprises": [e for c in children for e in c["enterprises"]]
        + own_snapshot["enterprises"],
    }


def compile_report(conn: Conn, actor: Actor, city: str, year: int, config: AccountingConfig) -> int:
    """Make (and freeze) the next version of the city's report; every account must be approved."""
    actor.require("city", city)
    kind = conn.execute("SELECT kind FROM region WHERE code = %s", (city,)).fetchone()
    if kind is None:
        raise NotFoundError(f"unknown region {city!r}")
    if kind[0] != "city":
        raise AccountingError(f"{city} is a {kind[0]}: reports are made by cities")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('report:' || %s), %s)", (city, year))
        snapshot = aggregate(conn, city, year, config)
        row = conn.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM assessment_report "
            "WHERE region_code = %s AND year = %s",
            (city, year),
        ).fetchone()
        version = int(row[0]) if row else 1
        snapshot |= {
            "version": version,
            "created_at": datetime.now(UTC).isoformat(),
            "created_by": actor.name,
        }
        conn.execute(
            "INSERT INTO assessment_report (region_code, year, version, snapshot, created_by) "
            "VALUES (%s, %s, %s, %s, %s)",
            (city, year, version, Jsonb(snapshot), actor.name),
        )
        record(
            conn,
            actor,
            "report_made",
            city,
            year,
            f"report {city}/{year}",
            {
                "version": version,
                "accounts": {c["region"]: c["account_version"] for c in snapshot["children"]},
            },
        )
    return version


def report_snapshot(conn: Conn, city: str, year: int, version: int | None = None) -> Json:
    """A version of the report (the newest without `version`)."""
    row = conn.execute(
        "SELECT snapshot FROM assessment_report WHERE region_code = %s AND year = %s "
        "AND (%s::int IS NULL OR version = %s) ORDER BY version DESC LIMIT 1",
        (city, year, version, version),
    ).fetchone()
    if row is None:
        which = f"version {version} of the" if version else "a"
        raise NotFoundError(f"there is no {which} report of {city} for {year}")
    snapshot: Json = row[0]
    snapshot["findings"] = findings(conn, city, year, int(snapshot["version"]))
    return snapshot


def findings(conn: Conn, city: str, year: int, version: int) -> list[Json]:
    cur = conn.execute(
        "SELECT id, about_region, figure, finding, author, at FROM report_finding "
        "WHERE region_code = %s AND year = %s AND version = %s ORDER BY id",
        (city, year, version),
    )
    return [
        {"id": i, "region": r, "figure": f, "finding": t, "author": a, "at": at.isoformat()}
        for i, r, f, t, a, at in cur
    ]


def record_finding(
    conn: Conn,
    actor: Actor,
    city: str,
    year: int,
    version: int,
    *,
    finding: str,
    about_region: str | None = None,
    figure: str | None = None,
) -> int:
    """The province records a finding against a version of a city's report."""
    actor.require("province", city)
    if not finding.strip():
        raise AccountingError("a finding needs text")
    report_snapshot(conn, city, year, version)  # NotFoundError when there is no such version
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO report_finding (region_code, year, version, about_region, figure, "
            "finding, author) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (city, year, version, about_region, figure, finding.strip(), actor.name),
        ).fetchone()
        if row is None:  # RETURNING always gives the row
            raise AccountingError("insert returned nothing")
        record(
            conn,
            actor,
            "finding_recorded",
            city,
            year,
            f"report {city}/{year}",
            {"version": version, "region": about_region, "figure": figure, "finding": finding},
        )
    return int(row[0])


def report_view(conn: Conn, actor: Actor, city: str, year: int, config: AccountingConfig) -> Json:
    """The report's versions, the newest with its findings, readiness and the audit trail."""
    actor.require_read(city)
    versions = [
        {"version": v, "created_at": at.isoformat(), "created_by": by}
        for v, at, by in conn.execute(
            "SELECT version, created_at, created_by FROM assessment_report "
            "WHERE region_code = %s AND year = %s ORDER BY version",
            (city, year),
        )
    ]
    try:
        ready, blocker = True, None
        preview = aggregate(conn, city, year, config)
    except ConflictError as exc:
        ready, blocker, preview = False, str(exc), None
    return {
        "region": city,
        "year": year,
        "versions": versions,
        "latest": report_snapshot(conn, city, year) if versions else None,
        "ready": ready,
        "blocker": blocker,
        "preview": preview,
        "events": trail(conn, city, year),
        "inputs_of_city": input_rows(conn, city, year),
    }
