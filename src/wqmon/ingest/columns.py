"""Validation of an envelope's readings as columns: the cost is per group, not per reading.

One Python object and a dozen calls per reading were the ceiling of `wqmon ingest`
(docs/scaling.md §1). Here a channel is resolved once per (site, point, parameter, unit) of an
envelope, a time once per distinct timestamp, a flag once per distinct flag, and the value and
time checks run as numpy operations over the whole envelope. The rules are those of
`wqmon.ingest.validate`, which stays the reference: every reading the vectorised checks do not
pass is validated again by `validate_reading`, so a refusal has exactly the reason and detail it
had before (and the order of the checks, when a reading breaks more than one rule).

The result, a `ReadingBlock`, keeps the accepted readings as arrays; the writer encodes COPY from
them (`wqmon.store.copybin.encode_blocks`) and `Reading` tuples are only built when something
needs them (commit listeners, the spool, the writer's replay path).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from itertools import repeat

import numpy as np
import numpy.typing as npt

from wqmon.errors import RejectedReading
from wqmon.flags import KNOWN_FLAGS
from wqmon.ingest.validate import (
    Context,
    check_flag,
    resolve_channel,
    validate_reading,
)
from wqmon.model import RawReading, Reading
from wqmon.parameters import Kind, conversion_factor
from wqmon.protocol.push import PushedReadings
from wqmon.store.copybin import pg_micros

_NUMBER_TYPES = frozenset({float, int})
SMALL_ENVELOPE = 16  # readings; up to this many are validated without numpy (`validate_small`)
# `Reading(...)` runs NamedTuple's Python-level __new__; tuple.__new__ builds the same tuple in C.
_new_reading = partial(tuple.__new__, Reading)


class ReadingBlock:
    """The accepted readings of one envelope, as columns (source and receipt time are shared)."""

    __slots__ = ("_rows", "channel_id", "flags", "received_at", "source", "ts", "ts_us", "value")

    def __init__(  # noqa: PLR0917 - one argument per column
        self,
        channel_id: npt.NDArray[np.int32],
        ts_us: npt.NDArray[np.int64],
        value: npt.NDArray[np.float64],
        ts: list[datetime],
        flags: list[str],
        source: str,
        received_at: datetime,
    ) -> None:
        self.channel_id = channel_id
        self.ts_us = ts_us  # microseconds since 2000-01-01 UTC, as COPY wants them
        self.value = value
        self.ts = ts  # the same times as aware UTC datetimes, for `Reading`s
        self.flags = flags
        self.source = source
        self.received_at = received_at
        self._rows: list[Reading] | None = None

    @classmethod
    def empty(cls, source: str, received_at: datetime) -> ReadingBlock:
        return cls(
            np.empty(0, np.int32),
            np.empty(0, np.int64),
            np.empty(0, np.float64),
            [],
            [],
            source,
            received_at,
        )

    @classmethod
    def of(cls, readings: Sequence[Reading], source: str, received_at: datetime) -> ReadingBlock:
        """A block of readings validated one by one (the slow path); keeps those very tuples."""
        block = cls(
            np.fromiter((r.channel_id for r in readings), np.int32, len(readings)),
            np.fromiter((pg_micros(r.ts) for r in readings), np.int64, len(readings)),
            np.fromiter((r.value for r in readings), np.float64, len(readings)),
            [r.ts for r in readings],
            [r.flag for r in readings],
            source,
            received_at,
        )
        block._rows = list(readings)
        return block

    def __len__(self) -> int:
        return len(self.flags)

    def rows(self) -> list[Reading]:
        """The readings as tuples, built once (their identity is what the writer reports)."""
        if self._rows is None:
            columns = zip(
                self.channel_id.tolist(),
                self.ts,
                self.value.tolist(),
                self.flags,
                repeat(self.source),
                repeat(self.received_at),
                strict=False,  # the repeats are endless; the first four have one length
            )
            self._rows = list(map(_new_reading, columns))
        return self._rows


_REFUSED_ROW = (1.0, math.inf, -math.inf, 0)  # accepts nothing: the reference says why


def _limits_row(
    key: tuple[str, str, str, str | None], ctx: Context
) -> tuple[float, float, float, int] | None:
    """Conversion factor, lowest and highest canonical value accepted, channel id; None when
    the channel or unit is refused. Memoised per registry snapshot for channels that resolve
    (not for refusals: a source naming random channels must not grow the memo)."""
    site, point, parameter, unit = key
    if ctx.allowed_sites is not None and site not in ctx.allowed_sites:
        return None
    memo = ctx.directory.limits_memo()
    row = memo.get(key)
    if row is not None:
        return row
    try:
        info = resolve_channel(ctx.directory, site, point, parameter, None)
        factor = conversion_factor(info.parameter, unit)
    except RejectedReading:
        return None
    param = info.parameter
    low, high = param.plausible
    if param.kind in (Kind.FLOW, Kind.TOTALISER):
        low = max(low, 0.0)
    row = memo[key] = (factor, low, high, info.id)
    return row


class _Groups:
    """Per (site, point, parameter, unit): conversion factor, the lowest and highest canonical
    value accepted, and the channel id, as one row of floats (one numpy gather per envelope).

    A group whose channel or unit is refused accepts nothing (low +inf, high -inf); flow and
    totaliser groups accept nothing below zero.
    """

    def __init__(self) -> None:
        self.rows: list[tuple[float, float, float, int]] = []

    def of(self, key: tuple[str, str, str, str | None], ctx: Context) -> int:
        self.rows.append(_limits_row(key, ctx) or _REFUSED_ROW)
        return len(self.rows) - 1


def _times(
    stamps: Sequence[object], parsed: dict[str, datetime] | None
) -> tuple[dict[object, datetime], dict[object, int], set[object]]:
    """UTC and COPY microseconds per distinct time, and the distinct times that are naive.

    `stamps` are datetimes, or (with `parsed`, from a pushed body) their text.
    """
    utc_of: dict[object, datetime] = {}
    us_of: dict[object, int] = {}
    naive: set[object] = set()
    for stamp in dict.fromkeys(stamps):
        ts = stamp if parsed is None else parsed[stamp]  # type: ignore[index]
        assert isinstance(ts, datetime)  # noqa: S101 - what RawReading.ts is
        if ts.tzinfo is None:
            naive.add(stamp)
            utc_of[stamp] = ts
            us_of[stamp] = 0
            continue
        utc = ts if ts.tzinfo is UTC else ts.astimezone(UTC)
        utc_of[stamp] = utc
        us_of[stamp] = pg_micros(utc)
    return utc_of, us_of, naive


def _flags(flags: list[str]) -> dict[str, str | None]:
    """The clean flag per distinct flag, None for one that is refused."""
    out: dict[str, str | None] = {}
    for flag in dict.fromkeys(flags):
        if flag in KNOWN_FLAGS:
            out[flag] = flag
            continue
        try:
            out[flag] = check_flag(flag)
        except RejectedReading:
            out[flag] = None
    return out


def validate_block(
    raws: Sequence[RawReading], ctx: Context
) -> tuple[ReadingBlock, list[tuple[int, RejectedReading]]]:
    """Validate an envelope's readings; returns the accepted ones and (index, refusal) pairs."""
    if not raws:  # an HJ 212 packet of period data only
        return ReadingBlock.empty(ctx.source, ctx.received_at), []
    if len(raws) <= SMALL_ENVELOPE and not isinstance(raws, PushedReadings):
        return validate_small(raws, ctx)
    return validate_columns(raws, ctx)


def validate_small(
    raws: Sequence[RawReading], ctx: Context
) -> tuple[ReadingBlock, list[tuple[int, RejectedReading]]]:
    """`validate_columns` in plain Python, for envelopes of a few readings (an HJ 212 upload
    has four): there numpy's fixed cost per call is most of the work.

    The same rules; a reading they do not pass is validated again by `validate_reading`, which
    gives the reason (and accepts what they refused, if it does).
    """
    latest = ctx.now + ctx.limits.future_tolerance
    earliest = ctx.limits.earliest
    channels: list[int] = []
    micros: list[int] = []
    values: list[float] = []
    times: list[datetime] = []
    flags: list[str] = []
    refused: list[tuple[int, RejectedReading]] = []
    last_ts: datetime | None = None
    utc: datetime = earliest
    us = 0
    for index, raw in enumerate(raws):
        row = _limits_row((raw.site, raw.point, raw.parameter, raw.unit), ctx)
        value, ts, flag = raw.value, raw.ts, raw.flag
        if row is not None and type(value) in _NUMBER_TYPES and ts.tzinfo is not None:
            if ts is not last_ts:
                utc = ts if ts.tzinfo is UTC else ts.astimezone(UTC)
                us = pg_micros(utc)
                last_ts = ts
            canonical = float(value) * row[0]
            clean = flag if flag in KNOWN_FLAGS else _clean_flag(flag)
            if (
                clean is not None
                and math.isfinite(canonical)
                and row[1] <= canonical <= row[2]
                and earliest <= utc <= latest
            ):
                channels.append(row[3])
                micros.append(us)
                values.append(canonical)
                times.append(utc)
                flags.append(clean)
                continue
        try:
            reading = validate_reading(raw, ctx)
        except RejectedReading as exc:
            refused.append((index, exc))
            continue
        channels.append(reading.channel_id)  # the reference accepts it after all
        micros.append(pg_micros(reading.ts))
        values.append(reading.value)
        times.append(reading.ts)
        flags.append(reading.flag)
    block = ReadingBlock(
        np.array(channels, np.int32),
        np.array(micros, np.int64),
        np.array(values, np.float64),
        times,
        flags,
        ctx.source,
        ctx.received_at,
    )
    return block, refused


def _clean_flag(flag: str) -> str | None:
    try:
        return check_flag(flag)
    except RejectedReading:
        return None


def validate_columns(
    raws: Sequence[RawReading], ctx: Context
) -> tuple[ReadingBlock, list[tuple[int, RejectedReading]]]:
    """Validate an envelope's readings as numpy columns (any size)."""
    if not raws:
        return ReadingBlock.empty(ctx.source, ctx.received_at), []
    if isinstance(raws, PushedReadings):  # decoded columns: no RawReading per reading
        site, items = raws.site, raws.items
        keys = [(site, r.point, r.parameter, r.unit) for r in items]
        stamps: list[object] = [r.ts for r in items]
        values = [r.value for r in items]
        raw_flags = [r.flag for r in items]
        parsed: dict[str, datetime] | None = raws.times
    else:
        keys = [(r.site, r.point, r.parameter, r.unit) for r in raws]
        stamps = [r.ts for r in raws]
        values = [r.value for r in raws]
        raw_flags = [r.flag for r in raws]
        parsed = None
    if not _NUMBER_TYPES.issuperset(map(type, values)):
        return _validate_each(raws, ctx)  # a source that sent something else than numbers
    groups = _Groups()
    index_of = {key: groups.of(key, ctx) for key in dict.fromkeys(keys)}
    group = np.fromiter(map(index_of.__getitem__, keys), np.intp, len(keys))
    utc_of, us_of, naive = _times(stamps, parsed)
    clean_of = _flags(raw_flags)
    table = np.array(groups.rows, np.float64)[group]
    try:
        value = np.fromiter(values, np.float64, len(values)) * table[:, 0]
    except OverflowError:
        return _validate_each(raws, ctx)
    ts_us = np.fromiter(map(us_of.__getitem__, stamps), np.int64, len(stamps))
    good = _passes(table, value, ts_us, ctx)
    if naive:
        good &= np.fromiter((ts not in naive for ts in stamps), np.bool_, len(stamps))
    if None in clean_of.values():
        good &= np.fromiter((clean_of[f] is not None for f in raw_flags), np.bool_, len(raws))
    refused = _refusals(raws, good, ctx)
    keep = None if good.all() else np.flatnonzero(good)
    flags = [clean_of[f] or f for f in raw_flags]
    times = [utc_of[ts] for ts in stamps]
    channel = table[:, 3].astype(np.int32)
    if keep is not None:
        channel, ts_us, value = channel[keep], ts_us[keep], value[keep]
        index = keep.tolist()
        flags = [flags[i] for i in index]
        times = [times[i] for i in index]
    return ReadingBlock(channel, ts_us, value, times, flags, ctx.source, ctx.received_at), refused


def _passes(
    table: npt.NDArray[np.float64],
    value: npt.NDArray[np.float64],
    ts_us: npt.NDArray[np.int64],
    ctx: Context,
) -> npt.NDArray[np.bool_]:
    """The readings every value and time rule of `wqmon.ingest.validate` accepts."""
    latest = pg_micros(ctx.now + ctx.limits.future_tolerance)
    earliest = pg_micros(ctx.limits.earliest)
    # Comparisons with NaN are False without a warning (no `np.errstate`: it costs a context
    # variable per envelope).
    ok = np.isfinite(value) & (value >= table[:, 1]) & (value <= table[:, 2])
    ok &= (ts_us <= latest) & (ts_us >= earliest)
    return ok


def _refusals(
    raws: Sequence[RawReading], good: npt.NDArray[np.bool_], ctx: Context
) -> list[tuple[int, RejectedReading]]:
    """Re-validate one by one what the vectorised rules refused: the reference says why.

    A reading the reference accepts after all is marked good in `good`.
    """
    refused: list[tuple[int, RejectedReading]] = []
    for index in np.flatnonzero(~good).tolist():
        try:
            validate_reading(raws[index], ctx)
        except RejectedReading as exc:
            refused.append((index, exc))
        else:  # the reference accepts it (cannot happen while the rules above match it)
            good[index] = True
    return refused


def _validate_each(
    raws: Sequence[RawReading], ctx: Context
) -> tuple[ReadingBlock, list[tuple[int, RejectedReading]]]:
    readings: list[Reading] = []
    refused: list[tuple[int, RejectedReading]] = []
    for index, raw in enumerate(raws):
        try:
            readings.append(validate_reading(raw, ctx))
        except RejectedReading as exc:
            refused.append((index, exc))
    return ReadingBlock.of(readings, ctx.source, ctx.received_at), refused
