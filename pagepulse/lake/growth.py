"""A growing day sessionised by its new files only.

Today's partition gains a file at every flush; sessionising all of it again for each
new version costs time and memory in proportion to the whole day, and a dashboard open
on a busy site asks for a new version every few seconds. Visits depend on their own
visitor's events only, and a visitor's new events come after its old ones, so the day
with its new files is the day built before (``base``) with the new files sessionised
on their own (``delta``, :func:`pagepulse.lake.sessions.build_day`) laid on top: a
visitor's first new visit continues its last old one when the gap is under 30 minutes,
the other new visits are added, and the flags ("first visit of the visitor with this
value", "first hit of the visitor with this key") are set again over the merged rows.
The result equals a build from all the files (tests/lake/test_growth.py compares them).

:func:`grow` refuses (returns None, and the caller builds the whole day) when that
would not be exact: a visitor with a new event earlier than one of its old ones
(several workers publish out of step), and the rare cases around midnight where a
visitor's visits continue the previous day's (:class:`~pagepulse.lake.sessions.Continuations`).
:func:`added_files` says which files of a partition are new since a listing, knowing
that compaction replaces files by one holding the same events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pagepulse.lake.layout import COMPACTED_PREFIX, replaced_by
from pagepulse.lake.sessions import (
    ATTRIBUTES,
    SESSION_GAP_US,
    Continuations,
    Day,
    Hits,
    Tail,
    attribute_key,
    first_with,
    narrow,
    new_visitors,
)

__all__ = ["added_files", "grow"]


def added_files(before: Sequence[Path], now: Sequence[Path]) -> list[Path] | None:
    """The files of ``now`` (a partition's live files) whose events were not in the
    files ``before``, or None when that cannot be told apart: a file of ``before`` is
    gone without a compacted file of ``now`` replacing it (quarantined), or a compacted
    file replaced files that ``before`` did not have (old and new events in one file)."""
    old = {path.name for path in before}
    current = {path.name for path in now}
    covered: set[str] = set()
    added = []
    for path in now:
        if path.name in old:
            continue
        replaced = replaced_by(path) if path.name.startswith(COMPACTED_PREFIX) else frozenset()
        if not replaced:
            added.append(path)
        elif replaced <= old and not replaced & covered:
            covered |= replaced
        else:
            return None
    if old - current - covered:
        return None
    return added


def grow(base: Day, delta: Day, day: dt.date) -> Day | None:
    """``base`` (a day's visits) with ``delta`` (the visits of the day's new events,
    sessionised alone with the same previous-day tail) added; None when only a build
    from all the events is exact."""
    if not delta.visits and not len(delta.continuations):
        return base
    if not _separable(base, delta):
        return None
    last, last_end = _last_visits(base)
    first = _first_visits(delta)
    first_ids = delta.visitor_id[first]
    at = np.minimum(np.searchsorted(base.visitor_id[last], first_ids), max(len(last) - 1, 0))
    shared = np.zeros(len(first), bool)
    if len(last):
        shared = base.visitor_id[last][at] == first_ids
    gap = delta.start_us[first] - last_end[at] if len(last) else np.zeros(len(first), np.int64)
    if np.any(shared & (gap <= 0)):
        return None  # a new event no later than an old one of the same visitor
    joins = shared & (gap < SESSION_GAP_US)
    joined, target = first[joins], last[at[joins]]
    return _merged(base, delta, joined, target, day)


def _separable(base: Day, delta: Day) -> bool:
    """Whether no visitor's visits continue the previous day's on one side and have
    events on the other (those are built whole: only in the first hour of a day)."""
    base_cont, delta_cont = base.continuations, delta.continuations
    if len(base_cont) and (
        np.isin(delta.visitor_id, base_cont.visitor_id).any()
        or np.isin(delta_cont.visitor_id, base_cont.visitor_id).any()
        or np.isin(delta_cont.target, base_cont.target).any()
    ):
        return False
    return not (len(delta_cont) and np.isin(delta_cont.visitor_id, base.visitor_id).any())


def _last_visits(day: Day) -> tuple[np.ndarray, np.ndarray]:
    """Each visitor's last visit (rows, ascending by visitor id) and its end."""
    order = np.lexsort((day.start_us, day.visitor_id))
    ids = day.visitor_id[order]
    last = order[np.append(ids[1:] != ids[:-1], True)] if len(ids) else order
    return last, day.start_us[last] + day.duration_us[last]


def _first_visits(day: Day) -> np.ndarray:
    order = np.lexsort((day.start_us, day.visitor_id))
    ids = day.visitor_id[order]
    return order[np.insert(ids[1:] != ids[:-1], 0, True)] if len(ids) else order


def _merged(base: Day, delta: Day, joined: np.ndarray, target: np.ndarray, day: dt.date) -> Day:
    """The merged day: ``delta``'s visits ``joined`` continue ``base``'s ``target``
    visits (same visitor, under 30 minutes apart), its other visits are added."""
    pageviews = base.pageviews.astype(np.int64)
    custom_events = base.custom_events.astype(np.int64)
    duration_us = base.duration_us.copy()
    pageviews[target] += delta.pageviews[joined]
    custom_events[target] += delta.custom_events[joined]
    duration_us[target] = delta.start_us[joined] + delta.duration_us[joined] - base.start_us[target]
    exits = base.attributes["exit_page"].astype(np.int64)
    new_exit = delta.attributes["exit_page"][joined]
    exits[target[new_exit >= 0]] = new_exit[new_exit >= 0]
    attributes = {**base.attributes, "exit_page": exits}

    rest = np.ones(delta.visits, bool)
    rest[joined] = False
    rest = np.flatnonzero(rest)

    def both(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
        return np.concatenate((ours, theirs[rest]))

    visitor_id = both(base.visitor_id, delta.visitor_id)
    start_us = both(base.start_us, delta.start_us)
    order = np.lexsort((start_us, visitor_id))
    position = np.empty(len(order), np.int64)
    position[order] = np.arange(len(order))
    base_position = position[: base.visits]
    delta_position = np.full(delta.visits, -1, np.int64)
    delta_position[rest] = position[base.visits :]
    delta_position[joined] = base_position[target]

    visitor_id, start_us = visitor_id[order], start_us[order]
    new_visitor = new_visitors(visitor_id)
    visitor = (np.cumsum(new_visitor) - 1).astype(np.int32)
    merged_attributes = {
        name: narrow(both(attributes[name], delta.attributes[name])[order]) for name in ATTRIBUTES
    }
    flags = {
        name: first_with(visitor, attribute_key(merged_attributes, name)) for name in ATTRIBUTES
    }
    duration = both(duration_us, delta.duration_us)[order]
    early = both(base.early, delta.early)[order]
    return Day(
        visitor_id=visitor_id,
        visitor=visitor,
        new_visitor=new_visitor,
        start_us=start_us,
        duration_us=duration,
        pageviews=both(pageviews, delta.pageviews)[order].astype(np.int32),
        custom_events=both(custom_events, delta.custom_events)[order].astype(np.int32),
        attributes=merged_attributes,
        first_with={
            name: flag for name, flag in flags.items() if not np.array_equal(flag, new_visitor)
        },
        pages=_merged_hits(
            base.pages, delta.pages, base_position, delta_position, visitor, "pathname"
        ),
        custom=_merged_hits(
            base.custom, delta.custom, base_position, delta_position, visitor, "name"
        ),
        previous_id=both(base.previous_id, delta.previous_id)[order],
        early=early,
        tail=Tail.of(visitor_id, start_us + duration, early, day),
        continuations=_both_continuations(base.continuations, delta.continuations),
    )


def _merged_hits(
    base: Hits,
    delta: Hits,
    base_position: np.ndarray,
    delta_position: np.ndarray,
    visitor: np.ndarray,
    key: str,
) -> Hits:
    """Both days' hits under the merged visits, in (visitor, key, visit) order, runs
    split by the cut joined again and every "first of its visitor with this key" set
    again."""
    visit = np.concatenate((base_position[base.visit], delta_position[delta.visit]))
    columns = {
        name: np.concatenate((getattr(base, name), getattr(delta, name)))
        for name in ("name", "pathname", "hostname", "count")
    }
    keys = columns[key].astype(np.int64)
    hit_visitor = visitor[visit].astype(np.int64)
    # Stable: of one visitor and key, the base's rows come first, both in visit order.
    order = np.argsort(hit_visitor << 32 | keys, kind="stable")
    visit, hit_visitor, keys = visit[order], hit_visitor[order], keys[order]
    columns = {name: values[order] for name, values in columns.items()}
    run_start = np.ones(len(visit), bool)
    run_start[1:] = visit[1:] != visit[:-1]
    for name in ("name", "pathname", "hostname"):
        run_start[1:] |= columns[name][1:] != columns[name][:-1]
    starts = np.flatnonzero(run_start)
    count = np.add.reduceat(columns["count"].astype(np.int64), starts) if len(starts) else starts
    first = np.ones(len(starts), bool)
    first[1:] = ~(
        (hit_visitor[starts][1:] == hit_visitor[starts][:-1])
        & (keys[starts][1:] == keys[starts][:-1])
    )
    return Hits(
        visit=visit[starts].astype(np.int32),
        name=narrow(columns["name"][starts]),
        pathname=narrow(columns["pathname"][starts]),
        hostname=narrow(columns["hostname"][starts]),
        count=narrow(count),
        first=first,
    )


def _both_continuations(base: Continuations, delta: Continuations) -> Continuations:
    """Two sets of continuations of different visitors as one (rows of ``delta``
    after ``base``'s; hits point at rows, so ``delta``'s move by ``len(base)``)."""
    if not len(delta):
        return base
    if not len(base):
        return delta

    def hits(ours: Hits, theirs: Hits) -> Hits:
        moved = Hits(**{**vars(theirs), "visit": theirs.visit + len(base)})
        return Hits(
            **{name: np.concatenate((vars(ours)[name], vars(moved)[name])) for name in vars(ours)}
        )

    return Continuations(
        target=np.concatenate((base.target, delta.target)),
        visitor_id=np.concatenate((base.visitor_id, delta.visitor_id)),
        start_us=np.concatenate((base.start_us, delta.start_us)),
        duration_us=np.concatenate((base.duration_us, delta.duration_us)),
        pageviews=np.concatenate((base.pageviews, delta.pageviews)),
        custom_events=np.concatenate((base.custom_events, delta.custom_events)),
        attributes={
            name: np.concatenate((base.attributes[name], delta.attributes[name]))
            for name in ATTRIBUTES
        },
        pages=hits(base.pages, delta.pages),
        custom=hits(base.custom, delta.custom),
    )
