"""Dashboard filters and the whitelist of dimensions.

Everything a user can filter or break down by is named here, once. A filter is
``(dimension, op, values)``; several filters stack with AND. Within one filter the
values are alternatives: ``is`` matches any of them, ``is_not`` none of them,
``contains`` a value containing any of them (case-sensitive, like Plausible's API).

Two kinds of dimension behave differently, as in Plausible:

* **visit** dimensions (``visit:source``, ``visit:country``, ``visit:entry_page``, …)
  are attributes of a visit (taken from its first event; the exit page from its last
  pageview). A visit filter selects visits; every metric is computed over them.
* **event** dimensions (``event:page``, ``event:name``, ``event:hostname``) are
  attributes of each event. Event filters select the visits that contain at least
  one event matching *all* of them (visitors, visits, bounce rate and visit duration
  are computed over those visits) and, for event counts (pageviews, custom events,
  top pages, goals), only the matching events of those visits.

Filter values never reach SQL text: :func:`filter_params` turns them into one bound
STRUCT parameter per dimension (``$filter_<name>``), NULL when unfiltered; the
``matches_filter`` macro in ``queries/_macros.sql`` applies it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Op = Literal["is", "is_not", "contains"]
OPS: tuple[Op, ...] = ("is", "is_not", "contains")

# Dimension name -> the ``$filter_<param>`` it binds (also the scope column it filters).
EVENT_DIMENSIONS: dict[str, str] = {
    "event:page": "page",
    "event:name": "name",
    "event:hostname": "hostname",
}
VISIT_DIMENSIONS: dict[str, str] = {
    "visit:entry_page": "entry_page",
    "visit:exit_page": "exit_page",
    "visit:source": "source",
    "visit:referrer": "referrer",
    "visit:utm_source": "utm_source",
    "visit:utm_medium": "utm_medium",
    "visit:utm_campaign": "utm_campaign",
    "visit:utm_content": "utm_content",
    "visit:utm_term": "utm_term",
    "visit:country": "country",
    "visit:browser": "browser",
    "visit:browser_version": "browser_version",
    "visit:os": "os",
    "visit:os_version": "os_version",
    "visit:device": "device",
}
DIMENSIONS: dict[str, str] = {**EVENT_DIMENSIONS, **VISIT_DIMENSIONS}

# Dimensions ``queries/breakdown.sql`` groups by (pages and event names have their
# own queries, with their own metrics).
BREAKDOWN_DIMENSIONS: tuple[str, ...] = tuple(
    name for name in VISIT_DIMENSIONS if name not in ("visit:entry_page", "visit:exit_page")
)

# The SQL type of one ``$filter_<name>`` parameter; NULL binds without a type.
FILTER_SQL_TYPE = "STRUCT(is_any VARCHAR[], is_none VARCHAR[], contains_all VARCHAR[][])"


class FilterError(ValueError):
    """A filter names an unknown dimension or operator, or has no values."""


@dataclass(frozen=True, slots=True)
class Filter:
    dimension: str
    op: Op
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.dimension not in DIMENSIONS:
            raise FilterError(f"unknown dimension {self.dimension!r}")
        if self.op not in OPS:
            raise FilterError(f"unknown filter operator {self.op!r}")
        if not self.values or not all(isinstance(v, str) for v in self.values):
            raise FilterError("a filter needs at least one string value")

    @classmethod
    def of(cls, dimension: str, op: str, *values: str) -> Filter:
        return cls(dimension, op, tuple(values))  # type: ignore[arg-type]


def filter_params(filters: Iterable[Filter]) -> dict[str, dict[str, Any] | None]:
    """``{"filter_<name>": STRUCT value or None}`` for every dimension.

    Stacked filters on one dimension combine here: ``is`` lists intersect (AND of
    "any of"), ``is_not`` lists unite, each ``contains`` stays its own OR-list.
    """
    combined: dict[str, dict[str, Any]] = {}
    for item in filters:
        slot = combined.setdefault(
            DIMENSIONS[item.dimension], {"is_any": None, "is_none": [], "contains_all": []}
        )
        if item.op == "is":
            previous = slot["is_any"]
            values = list(dict.fromkeys(item.values))
            slot["is_any"] = values if previous is None else [v for v in previous if v in values]
        elif item.op == "is_not":
            slot["is_none"] = list(dict.fromkeys([*slot["is_none"], *item.values]))
        else:
            slot["contains_all"].append(list(item.values))
    return {f"filter_{param}": combined.get(param) for param in DIMENSIONS.values()}


def has_event_filters(filters: Iterable[Filter]) -> bool:
    return any(item.dimension in EVENT_DIMENSIONS for item in filters)
