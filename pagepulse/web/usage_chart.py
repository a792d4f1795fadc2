"""The usage page's chart: one bar per month, drawn as server-side SVG geometry.

A bar stacks the month's pageviews and custom events; the current month adds a dashed
outline up to its projection, and in saas mode a dashed line marks the plan's monthly
pageview limit. x positions are percentages of the chart's width, y positions pixels.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from pagepulse.control.usage import MonthUsage

HEIGHT = 200
TOP = 12
BOTTOM = HEIGHT - 24  # room for the month labels
BAR_SHARE = 0.6  # of each month's slot


@dataclass(frozen=True, slots=True)
class UsageBar:
    label: str
    month: str
    pageviews: int
    custom_events: int
    x: float  # % of the width: the bar's left edge
    width: float  # %
    center: float  # %
    pageviews_y: float
    pageviews_height: float
    events_y: float
    events_height: float
    projected: int | None
    projected_y: float
    projected_height: float


@dataclass(frozen=True, slots=True)
class UsageChart:
    bars: list[UsageBar]
    height: int
    bottom: int
    limit: int | None
    limit_y: float | None
    summary: str


def usage_chart(
    months: Sequence[MonthUsage], projected: int | None, limit: int | None
) -> UsageChart:
    """``projected``: the current (last) month's projected pageviews and custom events."""
    scale_max = max(
        [m.events for m in months] + [projected or 0, limit or 0, 1],
    )

    def y_of(value: float) -> float:
        return round(BOTTOM - (BOTTOM - TOP) * value / scale_max, 1)

    slot = 100 / max(len(months), 1)
    bars = []
    for index, month in enumerate(months):
        last = index == len(months) - 1
        pv_top, all_top = y_of(month.pageviews), y_of(month.events)
        shown = projected if last and projected is not None and projected > month.events else None
        proj_top = y_of(shown) if shown is not None else all_top
        bars.append(
            UsageBar(
                label=_label(month.month),
                month=month.key,
                pageviews=month.pageviews,
                custom_events=month.custom_events,
                x=round(index * slot + slot * (1 - BAR_SHARE) / 2, 3),
                width=round(slot * BAR_SHARE, 3),
                center=round(index * slot + slot / 2, 3),
                pageviews_y=pv_top,
                pageviews_height=round(BOTTOM - pv_top, 1),
                events_y=all_top,
                events_height=round(pv_top - all_top, 1),
                projected=shown,
                projected_y=proj_top,
                projected_height=round(all_top - proj_top, 1),
            )
        )
    total = sum(m.pageviews for m in months)
    summary = f"Pageviews per month, {len(months)} months: {total:,} in all"
    limit_y = y_of(limit) if limit is not None else None
    return UsageChart(bars, HEIGHT, BOTTOM, limit, limit_y, summary)


def _label(month: dt.date) -> str:
    return month.strftime("%b") if month.month != 1 else month.strftime("%b %Y")
