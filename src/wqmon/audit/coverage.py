"""Coverage of the monitoring policy (联网全覆盖): which facilities lack a meter or data.

Rules (docs/audit.md §5), with the figures in `CoverageRule`:

- A plant (`wwtp`) of `min_plant_m3_per_day` (500 t/d) or more — or with no capacity in the
  registry, which cannot show it is smaller — needs inlet and outlet points, each with flow and
  COD channels, and at the outlet the parameters its permit names (`permit_parameters`).
- An enterprise whose permit class is `key`, or whose declared discharge
  (`capacity_m3_per_day`) or measured mean discharge over the window exceeds
  `min_enterprise_m3_per_day`, needs a discharge point with flow, COD and its permit
  parameters.
- Every required channel must have a reading within `silence` before the end of the day
  checked, and a transmission rate of at least `min_transmission_rate` over the `window_days`
  ending that day (from `channel_day`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from wqmon.balance.accounts import day_bounds
from wqmon.balance.records import COD, FLOW
from wqmon.errors import ConfigError
from wqmon.parameters import lookup
from wqmon.settings import Settings

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class CoverageRule:
    """The policy's figures; see docs/audit.md §5 for sources and confidence."""

    min_plant_m3_per_day: float = 500.0
    min_enterprise_m3_per_day: float = 500.0
    silence: timedelta = timedelta(hours=24)
    window_days: int = 7
    min_transmission_rate: float = 0.9


DEFAULT_COVERAGE = CoverageRule()


def rule_from(settings: Settings) -> CoverageRule:
    """The rule with the `compliance_*` settings."""
    return CoverageRule(
        settings.compliance_min_plant_m3_per_day,
        settings.compliance_min_enterprise_m3_per_day,
        timedelta(seconds=settings.compliance_silence_s),
        settings.compliance_window_days,
        settings.compliance_min_transmission_rate,
    )


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing missing at a facility: what, where, since when."""

    kind: str  # point | meter | data | transmission | registry
    point: str | None
    parameter: str | None
    detail: str
    since: datetime | None = None


@dataclass(slots=True)
class Facility:
    """A site as the coverage check sees it, and what it found."""

    site: str
    name: str
    kind: str
    region: str
    permit: str | None
    required: bool
    why: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def compliant(self) -> bool:
        return not self.findings


@dataclass(frozen=True, slots=True)
class _Channel:
    id: int
    point: str
    role: str
    parameter: str


_SITES = """
WITH RECURSIVE tree AS (
    SELECT code FROM region WHERE code = %(region)s
    UNION ALL SELECT r.code FROM region r JOIN tree t ON r.parent_code = t.code)
SELECT s.id, s.code, s.name, s.kind, s.region_code, s.capacity_m3_per_day, s.timezone,
       s.permit, s.permit_parameters FROM site s
WHERE s.active AND (%(region)s::text IS NULL OR s.region_code IN (SELECT code FROM tree))
ORDER BY s.code
"""
_POINTS = (
    "SELECT p.site_id, p.code, p.role, c.id, c.parameter FROM point p "
    "LEFT JOIN channel c ON c.point_id = p.id AND c.active WHERE p.site_id = ANY(%s) "
    "ORDER BY p.code, c.parameter"
)
# The newest reading per channel before the end: one index probe per channel.
_LATEST = (
    "SELECT c.id, r.ts FROM unnest(%s::int[]) AS c(id) LEFT JOIN LATERAL ("
    "SELECT ts FROM reading WHERE channel_id = c.id AND ts < %s ORDER BY ts DESC LIMIT 1"
    ") r ON true"
)
_RECEIVED = (
    "SELECT channel_id, sum(received_hours) FROM channel_day WHERE channel_id = ANY(%s) "
    "AND day >= %s AND day < %s GROUP BY 1"
)
_VOLUME = (
    "SELECT p.site_id, sum(d.volume_m3) FROM point_day d JOIN point p ON p.id = d.point_id "
    "WHERE p.site_id = ANY(%s) AND p.role = 'discharge' AND d.parameter = %s "
    "AND d.day >= %s AND d.day < %s GROUP BY 1"
)


def check_coverage(
    conn: Conn, *, region: str | None, day: date, rule: CoverageRule = DEFAULT_COVERAGE
) -> list[Facility]:
    """Every active site of the region subtree (or all) with what the policy finds missing."""
    if (
        region is not None
        and not conn.execute("SELECT 1 FROM region WHERE code = %s", (region,)).fetchone()
    ):
        raise ConfigError(f"unknown region {region!r}")
    sites = conn.execute(_SITES, {"region": region}).fetchall()
    ids = [s[0] for s in sites]
    channels: dict[int, list[_Channel]] = {i: [] for i in ids}
    points: dict[int, dict[str, str]] = {i: {} for i in ids}
    for sid, pcode, role, cid, parameter in conn.execute(_POINTS, (ids,)):
        points[sid][pcode] = role
        if cid is not None:
            channels[sid].append(_Channel(cid, pcode, role, parameter))
    first = day - timedelta(days=rule.window_days - 1)
    volumes = dict(conn.execute(_VOLUME, (ids, COD, first, day + timedelta(days=1))).fetchall())
    result = []
    for sid, code, name, kind, reg, capacity, tz, permit, permit_params in sites:
        measured = (volumes.get(sid) or 0.0) / rule.window_days
        required, why = _required(kind, capacity, permit, measured, rule)
        facility = Facility(code, name, kind, reg, permit, required, why)
        if required:
            wanted = _wanted_parameters(permit_params)
            facility.findings += _meters(kind, points[sid], channels[sid], wanted)
            facility.findings += _data(conn, channels[sid], day, ZoneInfo(tz), wanted, kind, rule)
        result.append(facility)
    return result


def _required(
    kind: str, capacity: float | None, permit: str | None, measured: float, rule: CoverageRule
) -> tuple[bool, str]:
    if kind == "wwtp":
        if capacity is None:
            return True, "plant without a capacity in the registry"
        if capacity >= rule.min_plant_m3_per_day:
            return True, f"plant of {capacity:g} m³/d ≥ {rule.min_plant_m3_per_day:g}"
        return False, f"plant of {capacity:g} m³/d < {rule.min_plant_m3_per_day:g}"
    if permit == "key":
        return True, "key permit management (重点管理)"
    volume = max(capacity or 0.0, measured)
    if volume > rule.min_enterprise_m3_per_day:
        return True, f"discharges {volume:g} m³/d > {rule.min_enterprise_m3_per_day:g}"
    return False, f"permit {permit or 'unknown'}, discharges {volume:g} m³/d"


def _wanted_parameters(permit_params: list[str]) -> list[str]:
    codes = [FLOW, COD]
    for name in permit_params:
        parameter = lookup(name)
        if parameter is not None and parameter.code not in codes:
            codes.append(parameter.code)
    return codes


def _alias(code: str) -> str:
    parameter = lookup(code)
    return parameter.alias if parameter else code


def _meters(
    kind: str, points: dict[str, str], channels: list[_Channel], wanted: list[str]
) -> list[Finding]:
    roles = ("inlet", "outlet") if kind == "wwtp" else ("discharge",)
    findings = []
    for role in roles:
        at_role = [p for p, r in points.items() if r == role]
        if not at_role:
            findings.append(Finding("point", None, None, f"no {role} monitoring point"))
            continue
        needed = wanted if role != "inlet" else [FLOW, COD]
        for pcode in at_role:
            have = {c.parameter for c in channels if c.point == pcode}
            findings += [
                Finding("meter", pcode, _alias(code), f"no {_alias(code)} meter at {pcode}")
                for code in needed
                if code not in have
            ]
    return findings


def _data(  # noqa: PLR0917 - one facility's context, used once
    conn: Conn,
    channels: list[_Channel],
    day: date,
    tz: ZoneInfo,
    wanted: list[str],
    kind: str,
    rule: CoverageRule,
) -> list[Finding]:
    roles = {"inlet", "outlet"} if kind == "wwtp" else {"discharge"}
    required = [
        c
        for c in channels
        if c.role in roles and c.parameter in (wanted if c.role != "inlet" else [FLOW, COD])
    ]
    if not required:
        return []
    _, end = day_bounds(day, tz)
    ids = [c.id for c in required]
    latest = dict(conn.execute(_LATEST, (ids, end)).fetchall())
    first = day - timedelta(days=rule.window_days - 1)
    received = dict(conn.execute(_RECEIVED, (ids, first, day + timedelta(days=1))).fetchall())
    hours = (end - day_bounds(first, tz)[0]).total_seconds() / 3600.0
    findings = []
    for c in required:
        last = latest.get(c.id)
        if last is None:
            findings.append(Finding("data", c.point, _alias(c.parameter), "never reported"))
            continue
        if end - last > rule.silence:
            findings.append(Finding("data", c.point, _alias(c.parameter), "no data", since=last))
        rate = float(received.get(c.id) or 0) / hours
        if rate < rule.min_transmission_rate:
            findings.append(
                Finding(
                    "transmission",
                    c.point,
                    _alias(c.parameter),
                    f"transmission rate {rate:.1%} < {rule.min_transmission_rate:.0%} "
                    f"over {rule.window_days} days",
                )
            )
    return findings


COLUMNS = (
    "site",
    "name",
    "kind",
    "region",
    "permit",
    "required",
    "why",
    "compliant",
    "what",
    "point",
    "parameter",
    "missing",
    "since",
)


def coverage_rows(facilities: list[Facility]) -> list[dict[str, Any]]:
    """One row per finding (and one per compliant or exempt facility): the bureau's list."""
    rows = []
    for f in facilities:
        head = {
            "site": f.site,
            "name": f.name,
            "kind": f.kind,
            "region": f.region,
            "permit": f.permit,
            "required": f.required,
            "why": f.why,
            "compliant": f.compliant,
        }
        if not f.findings:
            rows.append(head | {"missing": None, "point": None, "parameter": None, "since": None})
        for x in f.findings:
            since = x.since.isoformat() if x.since else None
            rows.append(
                head
                | {"missing": x.detail, "point": x.point, "parameter": x.parameter, "since": since}
                | {"what": x.kind}
            )
    return rows


def coverage_report(
    conn: Conn, *, region: str | None, day: date, rule: CoverageRule = DEFAULT_COVERAGE
) -> dict[str, Any]:
    """`GET /api/v1/compliance`: the facilities with their findings."""
    return report_of(check_coverage(conn, region=region, day=day, rule=rule), region, day, rule)


def report_of(
    facilities: list[Facility], region: str | None, day: date, rule: CoverageRule
) -> dict[str, Any]:
    """The JSON body of a coverage check."""
    return {
        "region": region,
        "date": day.isoformat(),
        "rule": {
            "min_plant_m3_per_day": rule.min_plant_m3_per_day,
            "min_enterprise_m3_per_day": rule.min_enterprise_m3_per_day,
            "silence_hours": rule.silence.total_seconds() / 3600,
            "window_days": rule.window_days,
            "min_transmission_rate": rule.min_transmission_rate,
        },
        "facilities": [
            {
                "site": f.site,
                "name": f.name,
                "kind": f.kind,
                "region": f.region,
                "permit": f.permit,
                "required": f.required,
                "why": f.why,
                "compliant": f.compliant,
                "findings": [
                    {
                        "what": x.kind,
                        "point": x.point,
                        "parameter": x.parameter,
                        "detail": x.detail,
                        "since": x.since.isoformat() if x.since else None,
                    }
                    for x in f.findings
                ],
            }
            for f in facilities
        ],
    }
