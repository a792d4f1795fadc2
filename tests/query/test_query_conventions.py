"""Conventions: every query file has its header, is used, and is covered by a test."""

from __future__ import annotations

from pathlib import Path

from pagepulse.query import WIDGETS
from pagepulse.query.runner import MACROS, QUERIES_DIR, SCOPE_QUERIES, load, query_names

WIDGET_FUNCTIONS = {"top_stats", "timeseries", "current_visitors"}  # pagepulse.query.widgets
ACCOUNT_QUERIES = {"usage_by_file"}  # pagepulse.control.usage (tests/billing)
TESTS = "\n".join(p.read_text() for p in Path(__file__).parents[1].glob("*/test_*.py"))


def test_every_query_file_loads_with_a_header_and_checked_parameters():
    for name in query_names():
        query = load(name)  # raises on a bad header or undeclared/unused parameters
        assert query.summary


def test_every_query_file_is_used_by_the_registry():
    used = {w.query for w in WIDGETS.values()} | set(SCOPE_QUERIES) | WIDGET_FUNCTIONS
    used |= ACCOUNT_QUERIES
    assert set(query_names()) == used
    assert (QUERIES_DIR / f"{MACROS}.sql").read_text().startswith(f"-- {MACROS}: ")


def test_every_query_and_widget_is_covered_by_a_test():
    # The reference test runs every widget of WIDGETS; the others are named in tests.
    names = set(query_names()) - {w.query for w in WIDGETS.values()} - set(SCOPE_QUERIES)
    for name in names:
        assert name in TESTS, f"no test mentions {name}"
    assert "for name, spec in WIDGETS.items()" in TESTS
