"""Do two engines give the same dashboard? Differences by step (widget) and row.

Answers are dicts of step name → what the step returns (a dict of numbers, a list of
rows, ``{"rows": [...], "has_more": bool}`` or a number). Values compare with ``==``
(an integer 3 equals 3.0, a naive local datetime equals the same one); DuckDB and
ClickHouse return the same Python types for the same SQL types otherwise.
"""

from __future__ import annotations

from typing import Any


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """One line per differing value: ``step[row].column: expected != actual``."""
    lines: list[str] = []
    for step in expected:
        if step not in actual:
            lines.append(f"{step}: missing")
            continue
        lines += _compare(step, expected[step], actual[step])
    return lines


def differing_steps(lines: list[str]) -> set[str]:
    return {line.split("[", 1)[0].split(".", 1)[0].split(":", 1)[0] for line in lines}


def _compare(where: str, expected: Any, actual: Any) -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        lines = []
        for key in expected.keys() | actual.keys():
            if key not in actual or key not in expected:
                side = "expected" if key in expected else "actual"
                lines.append(f"{where}.{key}: only in {side}")
            else:
                lines += _compare(f"{where}.{key}", expected[key], actual[key])
        return sorted(lines)
    if isinstance(expected, list) and isinstance(actual, list):
        lines = []
        for i, (left, right) in enumerate(zip(expected, actual, strict=False)):
            lines += _compare(f"{where}[{i}]", left, right)
        if len(expected) != len(actual):
            lines.append(f"{where}: {len(expected)} rows != {len(actual)} rows")
        return lines
    if expected != actual:
        return [f"{where}: {expected!r} != {actual!r}"]
    return []
