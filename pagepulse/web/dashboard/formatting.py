"""How numbers, durations, changes and countries read on the dashboard.

Registered as Jinja filters by ``views.register_filters`` (``compact``,
``duration``, ``metric_value``, ``country_name``, ``flag``). CSV and JSON carry the
raw numbers; only HTML is formatted.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

# tzdata's table reads "Britain (UK)" and the like; the usual short names instead.
_COUNTRY_OVERRIDES = {
    "GB": "United Kingdom",
    "KR": "South Korea",
    "KP": "North Korea",
    "CZ": "Czechia",
    "VA": "Vatican City",
    "FM": "Micronesia",
    "PS": "Palestine",
}


def compact(value: float | int | None) -> str:
    """1234 -> "1.2k", 3_400_000 -> "3.4M"; below 1000 the number itself."""
    if value is None:
        return "–"
    number = float(value)
    sign = "-" if number < 0 else ""
    number = abs(number)
    units = ((1e3, "k"), (1e6, "M"), (1e9, "B"))
    if number >= units[0][0]:
        for index, (threshold, suffix) in enumerate(units):
            scaled = number / threshold
            text = f"{scaled:.1f}".removesuffix(".0") if scaled < 100 else f"{scaled:.0f}"
            # 999_999 would read "1000k": say "1M" instead.
            if float(text) >= 1000 and index < len(units) - 1:
                continue
            return f"{sign}{text}{suffix}"
    if number == int(number):
        return f"{sign}{int(number)}"
    return f"{sign}{number:.2f}".rstrip("0").rstrip(".")


def duration(seconds: float | int | None) -> str:
    """65 -> "1m 05s", 3725 -> "1h 02m", 9 -> "9s"."""
    if seconds is None:
        return "–"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def percent(value: float | int | None) -> str:
    if value is None:
        return "–"
    return f"{compact(value)}%"


# How each metric reads: what the query layer returns -> text.
METRIC_FORMATS = {
    "visitors": compact,
    "visits": compact,
    "pageviews": compact,
    "events": compact,
    "views_per_visit": lambda v: "–" if v is None else f"{float(v):.2f}".rstrip("0").rstrip("."),
    "bounce_rate": percent,
    "exit_rate": percent,
    "conversion_rate": percent,
    "visit_duration": duration,
}


def metric_value(value: Any, metric: str) -> str:
    return METRIC_FORMATS.get(metric, compact)(value)


@dataclass(frozen=True, slots=True)
class Change:
    """A top stat against the previous period: ``text`` like "+12%" or "−3 pp"."""

    text: str
    direction: str  # "up" | "down" | "flat"
    good: bool | None  # None when neither direction is better (or nothing to compare)
    description: str  # for screen readers: "up 12% from 1.1k"


# Lower is better for these; bounce rate changes are in percentage points.
_LOWER_IS_BETTER = {"bounce_rate"}
_POINTS = {"bounce_rate"}


def change(metric: str, current: float | int | None, previous: float | int | None) -> Change | None:
    if current is None or previous is None:
        return None
    if metric in _POINTS:
        delta = round(float(current) - float(previous))
        unit = " pp"
    elif previous == 0:
        if current == 0:
            return Change("0%", "flat", None, "no change from the previous period")
        return Change("new", "up", True, "none in the previous period")
    else:
        delta = round((float(current) - float(previous)) / float(previous) * 100)
        unit = "%"
    direction = "up" if delta > 0 else "down" if delta < 0 else "flat"
    sign = "+" if delta > 0 else "−" if delta < 0 else ""
    text = f"{sign}{abs(delta)}{unit}"
    good = None if direction == "flat" else (direction == "down") == (metric in _LOWER_IS_BETTER)
    before = metric_value(previous, metric)
    if direction == "flat":
        description = f"unchanged from {before} in the previous period"
    else:
        description = f"{direction} {abs(delta)}{unit} from {before} in the previous period"
    return Change(text, direction, good, description)


@functools.cache
def country_names() -> dict[str, str]:
    """ISO 3166-1 alpha-2 -> English name, from the tzdata package's iso3166.tab."""
    names: dict[str, str] = {}
    try:
        table = resources.files("tzdata").joinpath("zoneinfo", "iso3166.tab").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - tzdata is a dependency
        table = ""
    for line in table.splitlines():
        if line and not line.startswith("#") and "\t" in line:
            code, name = line.split("\t", 1)
            names[code.strip()] = name.strip()
    names.update(_COUNTRY_OVERRIDES)
    return names


def country_name(code: str) -> str:
    if not code:
        return "Unknown"
    return country_names().get(code.upper(), code.upper())


def flag(code: str) -> str:
    """The flag emoji of an ISO code: two regional-indicator letters ("" if not a code)."""
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in code.upper())
