"""The audit timeline (pure): which version of a channel's series each instant takes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wqmon.audit.model import Correction, Mark, Reason, Validity
from wqmon.audit.timeline import ChannelAudit, resolve, subtract
from wqmon.balance.hourly import realtime_hours
from wqmon.balance.records import FLOW, PeriodValue
from wqmon.balance.segments import Segment

T0 = datetime(2025, 6, 1, tzinfo=UTC)
VALID = frozenset({"N", "T"})


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def mark(
    i: int, lo: float, hi: float, validity: Validity = Validity.INVALID, made: float = 0
) -> Mark:
    return Mark(i, 1, None, at(lo), at(hi), validity, Reason.MAINTENANCE, at(100 + made))


def test_the_latest_mark_decides_where_marks_overlap() -> None:
    early, late = mark(1, 0, 4), mark(2, 2, 6, Validity.VALID, made=1)
    pieces = [
        (round((s - T0.timestamp()) / 3600), round((e - T0.timestamp()) / 3600), m.id)
        for s, e, m in resolve([early, late])
    ]
    assert pieces == [(0, 2, 1), (2, 6, 2)]


def test_subtract_cuts_spans_out_of_steps() -> None:
    steps = [Segment(0, 10, 1.0), Segment(10, 20, 2.0)]
    assert subtract(steps, [(5, 12), (15, 16)]) == [
        Segment(0, 5, 1.0),
        Segment(12, 15, 2.0),
        Segment(16, 20, 2.0),
    ]


def _cod_load(audit: ChannelAudit | None, cod: list[tuple[datetime, float, str]]) -> float:
    flow = [(at(h / 4), 100.0, "N") for h in range(4 * 8)]  # 100 m³/h every 15 min
    rows = realtime_hours(
        flow,
        {"w01018": cod},
        start=at(0),
        end=at(8),
        audit={"w01018": audit} if audit else None,
    )
    return sum(r.load_kg or 0.0 for r in rows if r.parameter != FLOW)


def test_invalid_mark_removes_exactly_its_range() -> None:
    cod = [(at(h), 200.0 + 10 * h, "N") for h in range(8)]
    full = _cod_load(None, cod)
    marked = _cod_load(ChannelAudit((mark(1, 2.5, 4.5),)), cod)
    # 2.5–3: 220 mg/L, 3–4: 230, 4–4.5: 240; 100 m³/h.
    assert full - marked == 100 * (0.5 * 220 + 230 + 0.5 * 240) / 1000


def test_valid_mark_admits_flagged_results_inside_only() -> None:
    cod = [(at(h), 200.0, "D" if h in (2, 3) else "N") for h in range(8)]
    plain = _cod_load(None, cod)  # 2–4 holds the 01:00 result, which is 200 as well
    cod = [(t, 500.0 if f == "D" else v, f) for t, v, f in cod]
    validated = _cod_load(ChannelAudit((mark(1, 2, 3, Validity.VALID),)), cod)
    # 2–3 takes the validated 500; 3–4 still holds the 01:00 value, as without the mark.
    assert validated - plain == 100 * (500 - 200) / 1000


def test_replacement_series_holds_to_its_end_and_value_corrections_apply() -> None:
    cod = [(at(h), 300.0, "N") for h in range(8)]
    series = Correction(7, 1, "series", at(1), at(7), ((at(1), 100.0),), Reason.LAB_RESULT, at(50))
    value = Correction(8, 1, "value", at(0), at(0), ((at(0), 150.0),), Reason.LAB_RESULT, at(50))
    load = _cod_load(ChannelAudit((), (series, value)), cod)
    assert load == 100 * (150 + 6 * 100 + 300) / 1000
    audit = ChannelAudit((), (series,))
    shown = audit.adjust(cod, VALID)
    assert [(t.hour, v) for t, v, _ in shown] == [(0, 300.0), (1, 100.0), (7, 300.0)]


def test_logger_records_overlapping_an_invalid_mark_are_invalid_whole() -> None:
    audit = ChannelAudit((mark(3, 0.5, 0.6),))
    records = [PeriodValue(at(0), 10.0, None, "N"), PeriodValue(at(1), 10.0, None, "N")]
    flags = [r.flag for r in audit.adjust_records(records, timedelta(hours=1), VALID)]
    assert flags == ["M", "N"]
    assert audit.touching(at(0).timestamp(), at(1).timestamp(), 0) == ({3}, set())
    assert audit.touching(at(1).timestamp(), at(2).timestamp(), 0) == (set(), set())
