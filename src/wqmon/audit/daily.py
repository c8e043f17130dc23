"""The daily report of a plant or enterprise (日报): hourly table, the day's load, the marks
and corrections applied, and the validity figures; as data, CSV, XLSX or HTML.

Hourly values are the rollup's (docs/balance.md): flow as the hour's volume (m³) from valid
flow, a concentration as the hour's flow-weighted mean with its load, other parameters (pH,
temperature) as the mean of the hour's valid readings after marks and corrections. Each value
carries its hour flag and validity state (`channel_hour`), so a marked hour shows its reason.
"""

from __future__ import annotations

import html
from datetime import date, timedelta
from typing import Any

import psycopg

from wqmon.audit.export import csv_bytes, xlsx_bytes
from wqmon.audit.load import channel_audits
from wqmon.audit.store import Scope, list_corrections, list_marks
from wqmon.audit.validity import channel_validity, scope_channels
from wqmon.balance.accounts import day_bounds
from wqmon.balance.records import DEFAULT_SETTINGS, FLOW, HOUR, RollupSettings
from wqmon.balance.registry_view import load_registry
from wqmon.parameters import lookup

Conn = psycopg.Connection[Any]
HOUR_COLUMNS = (
    "hour",
    "point",
    "parameter",
    "unit",
    "value",
    "load_kg",
    "flag",
    "state",
    "cause",
    "source",
)


def _alias(code: str) -> str:
    parameter = lookup(code)
    return parameter.alias if parameter else code


def _unit(code: str) -> str:
    if code == FLOW:
        return "m³"
    parameter = lookup(code)
    return parameter.unit if parameter else ""


def daily_report(
    conn: Conn, site: str, day: date, settings: RollupSettings = DEFAULT_SETTINGS
) -> dict[str, Any]:
    """The report's content as plain data (JSON-ready after `isoformat` of times)."""
    ref = load_registry(conn).site(site)
    lo, hi = day_bounds(day, ref.tz)
    channels = list(scope_channels(conn, site=site, region=None))
    states = {
        (cid, h): (state, cause)
        for cid, h, state, cause in conn.execute(
            "SELECT channel_id, hour, state, cause FROM channel_hour "
            "WHERE channel_id = ANY(%s) AND hour >= %s AND hour < %s",
            ([c.id for c in channels], lo, hi),
        )
    }
    hours = {
        (pid, code, h): (vol, load, conc, flag, source)
        for pid, code, h, vol, load, conc, flag, source in conn.execute(
            "SELECT point_id, parameter, hour, volume_m3, load_kg, conc_mg_l, flag, source "
            "FROM point_hour WHERE point_id = ANY(%s) AND hour >= %s AND hour < %s",
            ([p.id for p in ref.points], lo, hi),
        )
    }
    point_ids = {p.code: p.id for p in ref.points}
    means = _other_means(conn, ref.points, channels, lo, hi, settings=settings)
    starts = [lo + i * HOUR for i in range(int((hi - lo) / HOUR))]
    rows = [
        _hour_row(c, hour, point_ids[c.point], hours, states, means, ref.tz)
        for hour in starts
        for c in channels
    ]
    totals = [
        {
            "point": p.code,
            "role": p.role,
            "parameter": code,
            "alias": _alias(code),
            "volume_m3": v,
            "load_kg": ld,
            "load_volume_m3": lv,
            "conc_mg_l": (ld * 1000 / lv) if lv else None,
            "load_hours": lh,
        }
        for p in ref.points
        for code, v, ld, lv, lh in conn.execute(
            "SELECT parameter, volume_m3, load_kg, load_volume_m3, load_hours FROM point_day "
            "WHERE point_id = %s AND day = %s ORDER BY parameter",
            (p.id, day),
        )
    ]
    scope = Scope(site=site, start=lo, end=hi, revoked=False)
    validity = [v.as_dict() for v in channel_validity(conn, channels, day, day + timedelta(days=1))]
    return {
        "site": ref.code,
        "name": ref.name,
        "kind": ref.kind,
        "region": ref.region,
        "date": day.isoformat(),
        "timezone": ref.tz.key,
        "hours": rows,
        "totals": totals,
        "validity": validity,
        "marks": list_marks(conn, scope),
        "corrections": list_corrections(conn, scope),
    }


def _other_means(
    conn: Conn, points: Any, channels: Any, lo: Any, hi: Any, *, settings: RollupSettings
) -> dict[tuple[int, Any], float]:
    """Hourly means of the valid readings (after the audit) of channels without load rows."""
    result: dict[tuple[int, Any], float] = {}
    pid_of = {p.code: p.id for p in points}
    for c in channels:
        if c.parameter == FLOW or (lookup(c.parameter) and lookup(c.parameter).unit == "mg/L"):  # type: ignore[union-attr]
            continue
        audit = channel_audits(conn, pid_of[c.point], {c.id: c.parameter}, lo, hi).get(c.parameter)
        samples = conn.execute(
            "SELECT ts, value, flag FROM reading WHERE channel_id = %s AND ts >= %s AND ts < %s",
            (c.id, lo, hi),
        ).fetchall()
        series = [(t, float(v), str(f)) for t, v, f in samples]
        if audit is not None:
            series = audit.adjust(series, settings.valid_flags)
        sums: dict[Any, list[float]] = {}
        for ts, value, flag in series:
            if flag in settings.valid_flags and value >= 0:
                acc = sums.setdefault(ts.replace(minute=0, second=0, microsecond=0), [0.0, 0.0])
                acc[0] += value
                acc[1] += 1
        for h, (total, n) in sums.items():
            result[(c.id, h)] = total / n
    return result


def _hour_row(  # noqa: PLR0917 - the report's lookups, used once per hour and channel
    c: Any, hour: Any, point_id: int, hours: Any, states: Any, means: Any, tz: Any
) -> dict[str, Any]:
    state, cause = states.get((c.id, hour), ("missing", None))
    row = hours.get((point_id, c.parameter, hour))
    value: float | None
    load = flag = source = None
    if row is not None:
        volume, load, conc, flag, source = row
        value = volume if c.parameter == FLOW else conc
    else:
        value = means.get((c.id, hour))
    return {
        "hour": hour.astimezone(tz).isoformat(),
        "point": c.point,
        "parameter": _alias(c.parameter),
        "unit": _unit(c.parameter),
        "value": value,
        "load_kg": load,
        "flag": flag,
        "state": state,
        "cause": cause,
        "source": source,
    }


_TOTAL_COLUMNS = ("point", "role", "alias", "volume_m3", "load_kg", "conc_mg_l", "load_hours")
_VALIDITY_COLUMNS = (
    "point",
    "alias",
    "expected_hours",
    "received_hours",
    "valid_hours",
    "invalid_hours",
    "shutdown_hours",
    "transmission_rate",
    "valid_rate",
    "causes",
)
_MARK_COLUMNS = (
    "id",
    "point",
    "alias",
    "start",
    "end",
    "validity",
    "reason",
    "comment",
    "created_by",
    "created_at",
)
_CORRECTION_COLUMNS = (
    "id",
    "point",
    "alias",
    "kind",
    "start",
    "end",
    "reason",
    "comment",
    "created_by",
    "values",
)


def _sections(report: dict[str, Any]) -> dict[str, tuple[tuple[str, ...], list[dict[str, Any]]]]:
    return {
        "hours": (HOUR_COLUMNS, report["hours"]),
        "totals": (_TOTAL_COLUMNS, report["totals"]),
        "validity": (_VALIDITY_COLUMNS, report["validity"]),
        "marks": (_MARK_COLUMNS, report["marks"]),
        "corrections": (_CORRECTION_COLUMNS, report["corrections"]),
    }


def report_csv(report: dict[str, Any]) -> bytes:
    """The hourly table (the other sections are in XLSX and HTML)."""
    return csv_bytes(report["hours"], HOUR_COLUMNS)


def report_xlsx(report: dict[str, Any]) -> bytes:
    return xlsx_bytes(dict(_sections(report)))


def report_html(report: dict[str, Any]) -> bytes:
    """One page, inline CSS, no scripts: printable."""
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>日报 {html.escape(report['site'])} {report['date']}</title>",
        (
            "<style>body{font-family:sans-serif;font-size:12px}table{border-collapse:collapse;"
            "margin-bottom:1em}td,th{border:1px solid #999;padding:2px 6px}"
            ".invalid{background:#fdd}.shutdown{background:#eee}.missing{color:#999}</style>"
        ),
        f"</head><body><h1>{html.escape(report['name'])} 日报 / daily report {report['date']}</h1>",
    ]
    for title, (columns, rows) in _sections(report).items():
        parts.append(f"<h2>{title}</h2><table><tr>")
        parts.extend(f"<th>{html.escape(c)}</th>" for c in columns)
        parts.append("</tr>")
        for row in rows:
            css = html.escape(str(row.get("state", "")))
            parts.append(f"<tr class='{css}'>")
            parts.extend(f"<td>{html.escape(_text(row.get(c)))}</td>" for c in columns)
            parts.append("</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts).encode()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)
