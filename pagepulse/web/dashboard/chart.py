"""The "visitors over time" chart as geometry for a server-rendered SVG.

``templates/dashboard/widgets/_timeseries.html`` draws what :func:`build_chart`
returns. The plot SVG has no viewBox: horizontal positions are percentages of its
width and vertical ones pixels of a fixed height, so it fills any card width while
its text keeps its size (a scaled viewBox would shrink the labels to nothing on a
phone). The y-axis labels sit in a narrow SVG of their own to its left, at the same
heights. There are two sets of x labels, six and three, and CSS shows the one that
fits. Each bucket is a bar under a full-height hit area with a ``<title>``, which
browsers show on hover; the same numbers are in a data table for keyboards and
screen readers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pagepulse.web.dashboard.formatting import metric_value

PLOT_TOP = 18  # px above the plot, for the top tick's label
PLOT_HEIGHT = 190
AXIS_HEIGHT = 24
HEIGHT = PLOT_TOP + PLOT_HEIGHT + AXIS_HEIGHT
MAX_X_LABELS = 6
MAX_X_LABELS_NARROW = 3  # phones: the template shows one set or the other by CSS
AXIS_WIDTH = 44  # px of the y-axis labels' own SVG, left of the plot
BAR_FILL = 0.7  # share of its slot a bar fills

_INTEGER_METRICS = {"visitors", "visits", "pageviews", "events", "visit_duration", "bounce_rate"}


@dataclass(frozen=True, slots=True)
class Bar:
    x: float  # % of the width: the slot's left edge
    slot: float  # % of the width
    bar_x: float  # %
    bar_width: float  # %
    y: float  # px
    height: float  # px
    label: str  # the bucket, in full: "Mon 5 May 2026"
    value: str  # formatted
    raw: Any


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class XLabel:
    x: float  # %
    anchor: str  # SVG text-anchor
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    metric: str
    metric_label: str
    interval: str
    bars: list[Bar]
    ticks: list[Tick]
    x_labels: list[XLabel]
    x_labels_narrow: list[XLabel]
    summary: str  # the SVG's aria-label
    height: int = HEIGHT
    plot_top: int = PLOT_TOP
    plot_bottom: int = PLOT_TOP + PLOT_HEIGHT
    axis_width: int = AXIS_WIDTH


def nice_ticks(maximum: float, *, integer: bool, target: int = 4) -> list[float]:
    """0 and up to ``target`` evenly spaced round values covering ``maximum``."""
    if maximum <= 0:
        maximum = 1 if integer else 1.0
    raw_step = maximum / target
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    if integer:
        step = max(1, math.ceil(step))
    count = math.ceil(maximum / step - 1e-9)
    return [step * i for i in range(count + 1)]


def bucket_label(bucket: dt.datetime | dt.date, interval: str, *, full: bool) -> str:
    if interval == "month":
        return f"{bucket:%B %Y}" if full else f"{bucket:%b %y}"
    if interval == "day":
        return f"{bucket:%a} {bucket.day} {bucket:%b %Y}" if full else f"{bucket.day} {bucket:%b}"
    # hour and minute buckets: the time (the range is one day)
    return f"{bucket:%a} {bucket.day} {bucket:%b}, {bucket:%H:%M}" if full else f"{bucket:%H:%M}"


def build_chart(
    rows: Sequence[dict[str, Any]],
    metric: str,
    metric_label: str,
    interval: str,
    *,
    fmt: Callable[[Any, str], str] = metric_value,
) -> Chart:
    values = [row[metric] or 0 for row in rows]
    ticks = nice_ticks(max(values, default=0), integer=metric in _INTEGER_METRICS)
    top = ticks[-1]
    n = max(len(rows), 1)
    slot = 100 / n
    bars = []
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        height = PLOT_HEIGHT * value / top if top else 0
        if value and height < 1:
            height = 1  # a non-zero bucket stays visible
        bars.append(
            Bar(
                x=round(i * slot, 4),
                slot=round(slot, 4),
                bar_x=round(i * slot + slot * (1 - BAR_FILL) / 2, 4),
                bar_width=round(slot * BAR_FILL, 4),
                y=round(PLOT_TOP + PLOT_HEIGHT - height, 2),
                height=round(height, 2),
                label=bucket_label(row["bucket"], interval, full=True),
                value=fmt(row[metric], metric),
                raw=row[metric],
            )
        )
    chart_ticks = [
        Tick(round(PLOT_TOP + PLOT_HEIGHT - PLOT_HEIGHT * t / top, 2), fmt(t, metric))
        for t in ticks
    ]
    return Chart(
        metric=metric,
        metric_label=metric_label,
        interval=interval,
        bars=bars,
        ticks=chart_ticks,
        x_labels=_x_labels(rows, interval, slot, MAX_X_LABELS),
        x_labels_narrow=_x_labels(rows, interval, slot, MAX_X_LABELS_NARROW),
        summary=_summary(rows, bars, metric_label, interval),
    )


def _x_labels(
    rows: Sequence[dict[str, Any]], interval: str, slot: float, most: int
) -> list[XLabel]:
    if not rows:
        return []
    step = max(1, math.ceil(len(rows) / most))
    labels = []
    for i in range(0, len(rows), step):
        centre = i * slot + slot / 2
        anchor = "start" if centre < 10 else "end" if centre > 90 else "middle"
        x = i * slot if anchor == "start" else (i + 1) * slot if anchor == "end" else centre
        labels.append(
            XLabel(round(x, 4), anchor, bucket_label(rows[i]["bucket"], interval, full=False))
        )
    return labels


def _summary(rows: Sequence[dict[str, Any]], bars: list[Bar], label: str, interval: str) -> str:
    per = {"month": "month", "day": "day", "hour": "hour", "minute": "minute"}.get(
        interval, interval
    )
    if not bars:
        return f"{label} per {per}: no data"
    peak = max(bars, key=lambda bar: bar.raw or 0)
    return (
        f"{label} per {per}, {bars[0].label} to {bars[-1].label}; "
        f"highest {peak.value} ({peak.label})"
    )
