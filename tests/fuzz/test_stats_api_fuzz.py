"""Fuzzing ``POST /api/v2/query`` over real HTTP with hypothesis, with a valid key.

Queries are built from the API's own vocabulary mixed with unknown names, wrong
types, odd dates (year 1, year 9999, 30 February), huge paging numbers and extra
fields, plus bodies that are not queries at all. Every answer is a 200 with
``results`` or a 4xx with ``{"error": "<message>"}``; never a 5xx.

The default suite sends 400 queries (about 20 s); ``pytest -m long`` sends 1,000
(``PAGEPULSE_API_FUZZ_EXAMPLES`` and ``PAGEPULSE_API_FUZZ_LONG_EXAMPLES`` change them).
"""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagepulse.control.db import open_database
from pagepulse.control.sites import create_site
from pagepulse.query.ranges import RANGE_NAMES
from pagepulse.web.stats_api import vocabulary as v
from pagepulse.web.stats_api.validate import API_RANGE_NAMES
from tests.support.budget import LONG_ONLY, count
from tests.support.server import Server
from tests.support.site import CHROME_UA, ensure_user, new_api_keys

EXAMPLES = count("PAGEPULSE_API_FUZZ_EXAMPLES", 400)
LONG_EXAMPLES = count("PAGEPULSE_API_FUZZ_LONG_EXAMPLES", 1000)
SITE = "api-fuzz.example"
OTHER_SITE = "someone-else.example"

junk = st.text(max_size=30)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | junk
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(junk, inner, max_size=4),
    max_leaves=12,
)

metric_names = st.sampled_from(sorted({*v.METRICS, *v.PLAUSIBLE_ONLY_METRICS})) | junk
dimension_names = (
    st.sampled_from(sorted({*v.DIMENSIONS, *v.PLAUSIBLE_ONLY_DIMENSIONS, "event:props:plan"}))
    | junk
)
filter_dimensions = st.sampled_from(sorted(v.FILTERABLE_DIMENSIONS)) | dimension_names
operators = st.sampled_from([*v.FILTER_OPERATORS, *sorted(v.PLAUSIBLE_ONLY_OPERATORS)]) | junk
days = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
near_days = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31))
day_text = (
    days.map(dt.date.isoformat)
    | near_days.map(dt.date.isoformat)
    | st.sampled_from(["2025-02-30", "2025-13-01", "2025-1-1", "20250101", "2025-06-10T10:00"])
    | junk
)
date_ranges = (
    st.sampled_from(sorted(RANGE_NAMES))
    | st.lists(day_text, min_size=0, max_size=3)
    | st.tuples(near_days, st.integers(0, 4000)).map(
        lambda p: [
            p[0].isoformat(),
            min(p[0] + dt.timedelta(days=p[1]), dt.date(9999, 12, 31)).isoformat(),
        ]
    )
    | json_values
)
filters = st.lists(
    st.one_of(
        st.tuples(operators, filter_dimensions, st.lists(junk | scalars, max_size=3)).map(list),
        st.lists(json_values, max_size=5),
    ),
    max_size=4,
)
paging_numbers = st.integers(min_value=-(2**70), max_value=2**70) | st.integers(0, 20) | scalars


# Each grouping with the metrics it can answer: () totals, a time dimension, a breakdown.
GROUPINGS: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    ((), v.TOTALS_METRICS),
    *(((name,), v.TOTALS_METRICS) for name in v.TIME_DIMENSIONS),
    *((b.dimensions, tuple(sorted(b.metrics))) for b in v.BREAKDOWNS.values()),
]


@st.composite
def valid_queries(draw) -> dict:
    """A query the API should answer with 200 (edge values included)."""
    dimensions, available = draw(st.sampled_from(GROUPINGS))
    metrics = draw(st.lists(st.sampled_from(available), min_size=1, max_size=4, unique=True))
    start = draw(st.one_of(near_days, days))
    length = draw(st.integers(0, 3660))
    end = min(start + dt.timedelta(days=length), dt.date(9999, 12, 31))
    body: dict = {
        "site_id": draw(st.sampled_from([SITE, f"https://www.{SITE}/", SITE.upper()])),
        "metrics": metrics,
        "date_range": draw(
            st.sampled_from(sorted(API_RANGE_NAMES)) | st.just([start.isoformat(), end.isoformat()])
        ),
        "dimensions": list(dimensions),
        "filters": draw(
            st.lists(
                st.tuples(
                    st.sampled_from(v.FILTER_OPERATORS),
                    st.sampled_from(sorted(v.FILTERABLE_DIMENSIONS)),
                    st.lists(
                        junk | st.sampled_from(["/", "/pricing", "Chrome", "US"]),
                        min_size=1,
                        max_size=3,
                    ),
                ).map(list),
                max_size=3,
            )
        ),
        "pagination": {
            "limit": draw(st.integers(1, 10_000)),
            "offset": draw(st.integers(0, 20) | st.integers(0, 2**70)),
        },
        "include": {
            "total_rows": draw(st.booleans()),
            "time_labels": bool(dimensions)
            and dimensions[0].startswith("time:")
            and draw(st.booleans()),
        },
    }
    columns = [*metrics, *dimensions]
    order = draw(st.lists(st.sampled_from(columns), max_size=len(columns), unique=True))
    body["order_by"] = [[name, draw(st.sampled_from(["asc", "desc"]))] for name in order]
    return body


def _as_list(value: object) -> list:
    """A field an earlier mistake may have replaced with any JSON value."""
    return value if isinstance(value, list) else []


@st.composite
def queries(draw) -> dict:
    """A valid query, or one with a mistake or two: a wrong type in a known field, an
    unknown name, an odd date or number, a filter of the wrong shape, an extra field."""
    body = draw(valid_queries())
    for _ in range(draw(st.integers(0, 2))):
        mistake = draw(st.integers(0, 7))
        key = draw(st.sampled_from(sorted(body)))
        if mistake == 0:
            body[key] = draw(json_values)
        elif mistake == 1:
            body["metrics"] = [*_as_list(body.get("metrics")), draw(metric_names)]
        elif mistake == 2:
            body["dimensions"] = [*_as_list(body.get("dimensions")), draw(dimension_names)]
        elif mistake == 3:
            body["date_range"] = draw(date_ranges)
        elif mistake == 4:
            body["filters"] = draw(filters)
        elif mistake == 5:
            body["pagination"] = {"limit": draw(paging_numbers), "offset": draw(paging_numbers)}
        elif mistake == 6:
            body["site_id"] = draw(st.sampled_from([OTHER_SITE, "", "no-such.example"]) | junk)
        else:
            body[draw(junk)] = draw(json_values)
    return body


@st.composite
def raw_bodies(draw) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        return json.dumps(draw(json_values)).encode()
    return json.dumps(draw(queries())).encode()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("fuzz-api") / "data")
    site_id = server.add_site(SITE)  # owned by Server's default owner
    owner_id = ensure_user(server.data_dir, "owner@pagepulse.test", "owner-password")
    key = new_api_keys(server.data_dir, owner_id, ["fuzz"])[0]
    stranger = ensure_user(server.data_dir, "stranger@example.com", "stranger-password")
    conn = open_database(server.data_dir / "pagepulse.sqlite3")
    create_site(conn, OTHER_SITE, stranger)
    conn.close()
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for path in ("/", "/pricing", "/blog/a"):
                for ua in (CHROME_UA, CHROME_UA + " build/2"):
                    body = {"n": "pageview", "u": f"https://{SITE}{path}?utm_source=x", "d": SITE}
                    response = client.post("/api/event", json=body, headers={"user-agent": ua})
                    assert response.status_code == 202
        assert len(server.wait_for_events(site_id, 6)) == 6
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        with httpx.Client(base_url=server.url, timeout=30, headers=headers) as client:
            yield server, client
    finally:
        server.stop()


def check_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    if response.status_code == 200:
        assert isinstance(body["results"], list)
        return
    assert 400 <= response.status_code < 500
    assert isinstance(body["error"], str) and body["error"], body


def fuzz_queries(client: httpx.Client, examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=raw_bodies())
    def property_(body: bytes) -> None:
        check_answer(client.post("/api/v2/query", content=body))

    property_()


def still_answers(api) -> None:
    """After the fuzzing, a valid query gets the right numbers; no traceback logged."""
    server, client = api
    query = {"site_id": SITE, "metrics": ["visitors", "pageviews"], "date_range": "7d"}
    response = client.post("/api/v2/query", json=query)
    assert response.status_code == 200, response.text
    assert response.json()["results"] == [{"metrics": [2, 6], "dimensions": []}]
    assert "Traceback" not in server.logs()


def test_queries_never_fail_with_5xx(api) -> None:
    fuzz_queries(api[1], EXAMPLES)
    still_answers(api)


@pytest.mark.long
@pytest.mark.skipif(LONG_ONLY, reason="the long variant: run with -m long")
def test_a_thousand_queries_never_fail_with_5xx(api) -> None:
    fuzz_queries(api[1], LONG_EXAMPLES)
    still_answers(api)
