"""Which marks and corrections changed a site's figures over local days (the balance trace)."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg

from wqmon.audit.store import Scope, list_corrections, list_marks
from wqmon.balance.accounts import day_bounds
from wqmon.balance.registry_view import load_registry
from wqmon.parameters import lookup

Conn = psycopg.Connection[Any]

_TRACED = (
    "SELECT p.code, h.parameter, count(*), "
    "coalesce(array_agg(DISTINCT m) FILTER (WHERE m IS NOT NULL), '{}'), "
    "coalesce(array_agg(DISTINCT k) FILTER (WHERE k IS NOT NULL), '{}') "
    "FROM point_hour h JOIN point p ON p.id = h.point_id "
    "LEFT JOIN LATERAL unnest(h.marks) m ON true LEFT JOIN LATERAL unnest(h.corrections) k "
    "ON true WHERE p.site_id = %s AND h.hour >= %s AND h.hour < %s "
    "AND (cardinality(h.marks) > 0 OR cardinality(h.corrections) > 0) GROUP BY 1, 2 ORDER BY 1, 2"
)


def balance_trace(conn: Conn, site: str, start: date, end: date) -> dict[str, Any]:
    """Per point and parameter: the hour rows an audit record changed, and the records."""
    ref = load_registry(conn).site(site)
    lo, hi = day_bounds(start, ref.tz)[0], day_bounds(end, ref.tz)[0]
    figures = []
    for point, code, hours, marks, corrections in conn.execute(_TRACED, (ref.id, lo, hi)):
        parameter = lookup(code)
        figures.append(
            {
                "point": point,
                "parameter": code,
                "alias": parameter.alias if parameter else None,
                "hours": int(hours),
                "marks": sorted(marks),
                "corrections": sorted(corrections),
            }
        )
    scope = Scope(site=site, start=lo, end=hi, revoked=True)
    return {
        "site": site,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "figures": figures,
        "marks": list_marks(conn, scope),
        "corrections": list_corrections(conn, scope),
    }
