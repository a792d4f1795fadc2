"""A day's visits summed per dimension value: the groups every breakdown widget reads.

Per (dimension, parent, code): ``visitors`` (sums of "first visit of its visitor with
this value" flags, see :mod:`pagepulse.lake.sessions`), ``visits``, ``bounces``,
``duration_us`` for the visit dimensions (``visit:<attribute>``; ``parent`` is the
browser or OS of a version, else -1) and ``visitors`` and ``hits`` for the event
dimensions (``event:page``, ``event:name``). Compaction stores a day's groups beside
its visits (:mod:`pagepulse.lake.visits`); the query layer computes them for the days
it builds itself and for cut or filtered days (:mod:`pagepulse.query.scopes`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pagepulse.lake.sessions import ATTRIBUTES, PARENTS, Day, Hits

GROUP_SCHEMA = pa.schema(
    [
        pa.field("dimension", pa.string()),
        pa.field("parent", pa.int32()),
        pa.field("code", pa.int32()),
        pa.field("visitors", pa.int64()),
        pa.field("visits", pa.int64()),
        pa.field("bounces", pa.int64()),
        pa.field("duration_us", pa.int64()),
        pa.field("hits", pa.int64()),
    ]
)


def day_groups(day: Day) -> pa.RecordBatch:
    """A whole day's group sums."""
    flags = {name: day.first_with.get(name, day.new_visitor) for name in ATTRIBUTES}
    return groups(
        day.attributes,
        flags,
        day.pageviews == 1,
        day.duration_us,
        hit_columns(day.pages, day.visitor, None, "pathname"),
        hit_columns(day.custom, day.visitor, None, "name"),
    )


def day_group_changes(before: Day, after: Day) -> pa.RecordBatch:
    """``day_groups(after) - day_groups(before)`` in one pass (signed rows)."""
    visits = np.concatenate([np.full(before.visits, -1, np.int64), np.ones(after.visits, np.int64)])

    def both(values: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return np.concatenate(values)

    def signed(hit_sign: int, columns: tuple[np.ndarray, np.ndarray, np.ndarray]):
        codes, counts, first = columns
        rows = np.full(len(codes), hit_sign, np.int64)
        return codes, counts.astype(np.int64) * hit_sign, first.astype(np.int64) * hit_sign, rows

    hits = {}
    for key, of in (("pathname", "pages"), ("name", "custom")):
        parts = [
            signed(sign, hit_columns(getattr(day, of), day.visitor, None, key))
            for sign, day in ((-1, before), (1, after))
        ]
        hits[of] = tuple(np.concatenate([p[i] for p in parts]) for i in range(4))
    flags = {
        name: both(tuple(d.first_with.get(name, d.new_visitor) for d in (before, after)))
        for name in ATTRIBUTES
    }
    return groups(
        {name: both((before.attributes[name], after.attributes[name])) for name in ATTRIBUTES},
        {name: flag.astype(np.int64) * visits for name, flag in flags.items()},
        both((before.pageviews == 1, after.pageviews == 1)).astype(np.int64) * visits,
        both((before.duration_us, after.duration_us)) * visits,
        hits["pages"][:3],
        hits["custom"][:3],
        visits=visits,
        hit_rows=(hits["pages"][3], hits["custom"][3]),
    )


def groups(
    attributes: dict[str, np.ndarray],
    flags: dict[str, np.ndarray],
    is_bounce: np.ndarray,
    duration_us: np.ndarray,
    pages: tuple[np.ndarray, np.ndarray, np.ndarray],
    custom: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    visits: np.ndarray | None = None,
    hit_rows: tuple[np.ndarray, np.ndarray] | None = None,
) -> pa.RecordBatch:
    """Sums per (dimension, parent, code). ``visits`` / ``hit_rows``: what each visit /
    hit row counts for (default 1; -1 takes a row out)."""
    groups = [
        _group(
            f"visit:{name}",
            attributes[PARENTS[name]] if name in PARENTS else None,
            attributes[name],
            visitors=flags[name],
            bounces=is_bounce,
            duration_us=duration_us,
            rows=visits,
        )
        for name in ATTRIBUTES
    ]
    for i, (dimension, (codes, counts, first)) in enumerate(
        (("event:page", pages), ("event:name", custom))
    ):
        rows = hit_rows[i] if hit_rows is not None else None
        groups.append(_group(dimension, None, codes, visitors=first, hits=counts, rows=rows))
    return pa.RecordBatch.from_arrays(
        [pa.concat_arrays([g.column(i) for g in groups]) for i in range(len(GROUP_SCHEMA))],
        schema=GROUP_SCHEMA,
    )


def _group(
    dimension: str,
    parent: np.ndarray | None,
    codes: np.ndarray,
    *,
    visitors: np.ndarray,
    bounces: np.ndarray | None = None,
    duration_us: np.ndarray | None = None,
    hits: np.ndarray | None = None,
    rows: np.ndarray | None = None,
) -> pa.RecordBatch:
    """Sums per (parent, code): visitors (flags), visits (rows, or the sum of ``rows``),
    bounces, durations, hits.

    np.bincount over the codes: several times cheaper than a hash aggregate over the
    visits, which is why widgets read these sums rather than every visit.
    """
    if parent is None:
        key = codes.astype(np.intp) + 1  # exit_page -1 (none) is bin 0
    else:
        key = parent.astype(np.int64) << 32 | (codes.astype(np.int64) & 0xFFFFFFFF)
    if parent is None and (key.size == 0 or key.max() < 1 << 20):
        # Codes are small: sum straight into one bin per code, keep the bins used.
        visits = np.bincount(key)
        used = np.flatnonzero(visits)
        groups = used - 1
        index, size = key, visits.size
    else:
        groups, index = np.unique(key, return_inverse=True)
        used, size = slice(None), groups.size
        visits = np.bincount(index, minlength=size)

    def total(weights: np.ndarray | None) -> np.ndarray:
        if weights is None:
            return np.zeros(len(groups), np.int64)
        return exact_sums(index, weights, size)[used]

    if parent is None:
        parent_codes = np.full(len(groups), -1, np.int32)
        group_codes = groups.astype(np.int32)
    else:
        parent_codes = (groups >> 32).astype(np.int32)
        group_codes = (groups & 0xFFFFFFFF).astype(np.uint32).astype(np.int32)
    return pa.RecordBatch.from_arrays(
        [
            pa.array([dimension] * len(groups), pa.string()),
            pa.array(parent_codes),
            pa.array(group_codes),
            pa.array(total(visitors)),
            pa.array(visits[used].astype(np.int64) if rows is None else total(rows)),
            pa.array(total(bounces)),
            pa.array(total(duration_us)),
            pa.array(total(hits)),
        ],
        schema=GROUP_SCHEMA,
    )


def exact_sums(groups: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Integer sums per group by np.bincount, exact.

    bincount adds in float64, exact while every partial sum stays below 2**53: true
    for flags and counts, and for durations unless the day's total passes ~285 years;
    then the values are split into 24-bit halves, each summed exactly.
    """
    if values.dtype.kind == "b":
        values = values.view(np.uint8)  # as weights: faster than selecting the rows
    if values.size == 0 or int(values.sum(dtype=np.int64)) < 1 << 53:
        return np.bincount(groups, weights=values, minlength=size).astype(np.int64)
    values = values.astype(np.int64, copy=False)
    low = np.bincount(groups, weights=values & 0xFFFFFF, minlength=size)
    high = np.bincount(groups, weights=values >> 24, minlength=size)
    return (high.astype(np.int64) << 24) + low.astype(np.int64)


def hit_columns(
    hits: Hits, day_visitor: np.ndarray, rows: np.ndarray | None, key: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(key codes, counts, first-of-visitor flags) of the kept hit rows."""
    if rows is None:
        return hits.key(key), hits.count, hits.first
    kept = np.flatnonzero(rows)
    codes = hits.key(key)[kept]
    visitor = day_visitor[hits.visit[kept]]
    first = np.ones(kept.size, bool)
    first[1:] = (visitor[1:] != visitor[:-1]) | (codes[1:] != codes[:-1])
    return codes, hits.count[kept], first
