"""docs/api.md stays true: every metric, dimension and range name is documented, and
every curl example is a request the API accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pagepulse.web.stats_api import parse_request, validate
from pagepulse.web.stats_api import vocabulary as v
from pagepulse.web.stats_api.validate import API_RANGE_NAMES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
EXAMPLES = re.findall(r"-d '(\{.*?\})'", DOC, re.DOTALL)


@pytest.mark.parametrize(
    "name", sorted({*v.METRICS, *v.DIMENSIONS, *API_RANGE_NAMES, *v.FILTER_OPERATORS})
)
def test_every_name_is_documented(name: str) -> None:
    assert f"`{name}`" in DOC


def test_the_metrics_table_lists_exactly_the_metrics() -> None:
    table = DOC.split("### Metrics", 1)[1].split("###", 1)[0]
    assert set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE)) == set(v.METRICS)


@pytest.mark.parametrize("body", EXAMPLES)
def test_curl_examples_are_valid_requests(body: str) -> None:
    json.loads(body)
    validate(parse_request(body.encode()))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 5
