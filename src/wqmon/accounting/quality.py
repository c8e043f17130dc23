"""The data audit behind an account's coverage: marks and corrections on its sites' data.

The account shows its coverage next to each figure; this says which recorded judgements
(invalid or valid marks, corrections) shaped it, so a reviewer can see why data is missing.
It is the seam to the data-audit records (docs/audit.md): until they exist in this schema it
reports none, and says so with `available: false`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from wqmon.balance.store import Conn


def audit_summary(conn: Conn, sites: Sequence[str], start: date, end: date) -> dict[str, Any]:
    """Counts of the audit records in force on the sites' data over [start, end), by reason."""
    del conn, sites, start, end
    return {"available": False, "marks": [], "corrections": 0}
