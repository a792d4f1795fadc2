"""Stats API refusals: 401 without a valid key, the same 404 for a missing and a foreign
site, and a 400 naming the field for every malformed or unsupported request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from pagepulse.config import Settings
from pagepulse.control import api_keys, sites, users
from pagepulse.control import db as control_db
from tests.web.stats_api_helpers import BOTH_DAYS, ApiWorld, make_world

VALID: dict[str, Any] = {"site_id": "example.com", "metrics": ["visitors"], "date_range": BOTH_DAYS}


@pytest.fixture
def world(app: FastAPI, settings: Settings) -> Iterator[ApiWorld]:
    world = make_world(app, settings)
    yield world
    world.client.close()


def post(world: ApiWorld, headers: dict[str, str], body: Any = VALID):
    return world.client.post("/api/v2/query", json=body, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer pp_not-a-real-key"},
        {"Authorization": "Bearer not-even-our-format"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
def test_missing_or_unknown_key_is_401(world: ApiWorld, headers: dict[str, str]) -> None:
    response = post(world, headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "API key" in response.json()["error"]


def test_401_comes_before_the_body_is_read(world: ApiWorld) -> None:
    response = world.client.post("/api/v2/query", content=b"{not json")
    assert response.status_code == 401


def test_a_session_cookie_is_not_a_key(world: ApiWorld, logged_in) -> None:
    logged_in.add_site("mine.example")
    response = logged_in.client.post("/api/v2/query", json={**VALID, "site_id": "mine.example"})
    assert response.status_code == 401


def test_revoked_key_is_401(world: ApiWorld, settings: Settings) -> None:
    assert world.query(VALID).status_code == 200
    conn = control_db.connect(settings.db_path)
    [key] = api_keys.list_api_keys(conn, world.user_id)
    assert api_keys.revoke_api_key(conn, world.user_id, key.id)
    conn.close()
    response = world.query(VALID)
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid API key: it is unknown or has been revoked"}


def test_other_users_site_looks_like_a_missing_one(world: ApiWorld, settings: Settings) -> None:
    conn = control_db.connect(settings.db_path)
    other = users.create_user(conn, "other@example.com", "correct horse battery")
    sites.create_site(conn, "theirs.example", other.id)
    _, other_key = api_keys.create_api_key(conn, other.id, "theirs")
    conn.close()

    foreign = world.query({**VALID, "site_id": "theirs.example"})
    missing = world.query({**VALID, "site_id": "nowhere.example"})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == {
        "error": '#/site_id: no site "theirs.example" that this API key can read'
    }
    assert missing.json()["error"] == foreign.json()["error"].replace("theirs", "nowhere")
    # ... and the other user's key cannot read ours either.
    assert world.query(VALID, key=other_key).status_code == 404
    assert world.query({**VALID, "site_id": "theirs.example"}, key=other_key).status_code == 200


def test_site_id_is_normalised_like_the_sites_page(world: ApiWorld) -> None:
    response = world.query({**VALID, "site_id": "https://www.Example.com/"})
    assert response.status_code == 200
    assert response.json()["query"]["site_id"] == "example.com"


def test_last_used_is_recorded(world: ApiWorld, settings: Settings) -> None:
    world.query(VALID)
    conn = control_db.connect(settings.db_path)
    [key] = api_keys.list_api_keys(conn, world.user_id)
    conn.close()
    assert key.last_used_at is not None


def test_body_size_is_bounded(world: ApiWorld) -> None:
    response = world.client.post(
        "/api/v2/query",
        content=b'{"site_id": "' + b"x" * 70_000 + b'"}',
        headers={"Authorization": f"Bearer {world.key}"},
    )
    assert response.status_code == 413
    assert "request body" in response.json()["error"]


def _with(**changes: Any) -> dict[str, Any]:
    body = {**VALID, **changes}
    return {k: v for k, v in body.items() if v is not DROP}


DROP = object()

BAD_REQUESTS: list[tuple[str, Any, str]] = [
    # (case id, body, the start of the error message)
    ("not json", b"{nope", "#: the request body is not valid JSON"),
    ("not an object", [1, 2], "#: the request body must be a JSON object"),
    ("no site_id", _with(site_id=DROP), "#/site_id: required field missing"),
    ("site_id type", _with(site_id=42), "#/site_id: "),
    ("empty site_id", _with(site_id=""), "#/site_id: "),
    ("no metrics", _with(metrics=DROP), "#/metrics: required field missing"),
    ("empty metrics", _with(metrics=[]), "#/metrics: "),
    ("metrics not a list", _with(metrics="visitors"), "#/metrics: "),
    ("metric type", _with(metrics=[1]), "#/metrics/0: "),
    ("unknown metric", _with(metrics=["foo"]), '#/metrics/0: unknown metric "foo"'),
    ("second metric", _with(metrics=["visitors", "foo"]), '#/metrics/1: unknown metric "foo"'),
    (
        "plausible-only metric",
        _with(metrics=["conversion_rate"]),
        '#/metrics/0: metric "conversion_rate" is not supported',
    ),
    ("repeated metric", _with(metrics=["visits", "visits"]), "#/metrics/1: "),
    ("percentage alone", _with(metrics=["percentage"]), '#/metrics/0: metric "percentage" needs'),
    (
        "percentage by time",
        _with(metrics=["visitors", "percentage"], dimensions=["time:day"]),
        '#/metrics/1: metric "percentage" needs',
    ),
    (
        "exit_rate elsewhere",
        _with(metrics=["exit_rate"], dimensions=["event:page"]),
        '#/metrics/0: metric "exit_rate" is only available with dimension visit:exit_page',
    ),
    (
        "metric a breakdown lacks",
        _with(metrics=["visitors", "pageviews"], dimensions=["visit:country"]),
        '#/metrics/1: metric "pageviews" is not available with dimension visit:country',
    ),
    (
        "visits by page",
        _with(metrics=["visits"], dimensions=["event:page"]),
        '#/metrics/0: metric "visits" is not available with dimension event:page',
    ),
    ("no date_range", _with(date_range=DROP), "#/date_range: "),
    ("unknown range", _with(date_range="fortnight"), '#/date_range: unknown range "fortnight"'),
    ("realtime range", _with(date_range="realtime"), '#/date_range: unknown range "realtime"'),
    ("range type", _with(date_range=7), "#/date_range: expected a range name"),
    ("one date", _with(date_range=["2025-06-10"]), "#/date_range: a custom range is"),
    ("bad date", _with(date_range=["2025-06-10", "June"]), '#/date_range/1: "June" is not a date'),
    (
        "datetime",
        _with(date_range=["2025-06-10T00:00:00+02:00", "2025-06-11"]),
        "#/date_range/0: ",
    ),
    ("reversed", _with(date_range=["2025-06-11", "2025-06-10"]), "#/date_range: the last day"),
    ("too long", _with(date_range=["2000-01-01", "2025-01-01"]), "#/date_range: a custom range"),
    ("dimension type", _with(dimensions=[3]), "#/dimensions/0: "),
    (
        "unknown dimension",
        _with(dimensions=["visit:shoe_size"]),
        '#/dimensions/0: unknown dimension "visit:shoe_size"',
    ),
    (
        "plausible-only dimension",
        _with(dimensions=["visit:city"]),
        '#/dimensions/0: dimension "visit:city" is not supported',
    ),
    ("custom props", _with(dimensions=["event:props:plan"]), "#/dimensions/0: "),
    ("repeated dimension", _with(dimensions=["visit:os", "visit:os"]), "#/dimensions/1: "),
    (
        "time with breakdown",
        _with(dimensions=["time:day", "visit:country"]),
        "#/dimensions: a time dimension cannot be combined",
    ),
    (
        "two breakdowns",
        _with(dimensions=["visit:country", "visit:device"]),
        "#/dimensions: this combination of dimensions is not supported",
    ),
    (
        "version alone",
        _with(dimensions=["visit:browser_version"]),
        "#/dimensions: visit:browser_version needs visit:browser",
    ),
    ("filter not a list", _with(filters=["is"]), "#/filters/0: "),
    ("filter too short", _with(filters=[["is", "visit:country"]]), "#/filters/0: a filter is"),
    (
        "filter operator",
        _with(filters=[["equals", "visit:country", ["DE"]]]),
        '#/filters/0/0: unknown filter operator "equals"',
    ),
    ("filter operator type", _with(filters=[[1, "visit:country", ["DE"]]]), "#/filters/0/0: "),
    (
        "plausible-only operator",
        _with(filters=[["matches", "event:page", ["^/blog"]]]),
        '#/filters/0/0: filter operator "matches" is not supported',
    ),
    (
        "logical operator",
        _with(filters=[["or", [["is", "visit:country", ["DE"]]]]]),
        '#/filters/0/0: filter operator "or" is not supported',
    ),
    (
        "modifiers",
        _with(filters=[["contains", "event:page", ["blog"], {"case_sensitive": False}]]),
        "#/filters/0/3: filter modifiers",
    ),
    (
        "filter dimension",
        _with(filters=[["is", "visit:shoe", ["42"]]]),
        '#/filters/0/1: dimension "visit:shoe"',
    ),
    (
        "filter on time",
        _with(filters=[["is", "time:day", ["2025-06-10"]]]),
        '#/filters/0/1: dimension "time:day" cannot be filtered on',
    ),
    ("filter dimension type", _with(filters=[["is", ["visit:os"], ["x"]]]), "#/filters/0/1: "),
    (
        "second filter",
        _with(filters=[["is", "visit:os", ["Mac"]], ["is", "visit:os", []]]),
        "#/filters/1/2: expected a non-empty list",
    ),
    ("filter values type", _with(filters=[["is", "visit:os", "Mac"]]), "#/filters/0/2: "),
    (
        "filter value type",
        _with(filters=[["is", "visit:os", ["Mac", 3]]]),
        "#/filters/0/2/1: expected a string",
    ),
    ("order_by shape", _with(order_by=[["visitors"]]), "#/order_by/0"),
    ("order_by direction", _with(order_by=[["visitors", "up"]]), "#/order_by/0/1: "),
    (
        "order_by unknown",
        _with(order_by=[["visits", "desc"]]),
        '#/order_by/0/0: "visits" is neither a requested metric nor a dimension',
    ),
    (
        "order_by twice",
        _with(order_by=[["visitors", "desc"], ["visitors", "asc"]]),
        "#/order_by/1/0: ",
    ),
    ("limit zero", _with(pagination={"limit": 0}), "#/pagination/limit: "),
    ("limit huge", _with(pagination={"limit": 10001}), "#/pagination/limit: "),
    ("limit string", _with(pagination={"limit": "10"}), "#/pagination/limit: "),
    ("negative offset", _with(pagination={"offset": -1}), "#/pagination/offset: "),
    ("pagination field", _with(pagination={"page": 2}), "#/pagination/page: unknown field"),
    ("include field", _with(include={"comparisons": True}), "#/include/comparisons: unknown field"),
    ("include type", _with(include={"total_rows": "yes"}), "#/include/total_rows: "),
    (
        "imports",
        _with(include={"imports": True}),
        "#/include/imports: PagePulse has no imported data",
    ),
    (
        "time_labels without time",
        _with(include={"time_labels": True}),
        "#/include/time_labels: needs a time dimension",
    ),
    ("unknown field", _with(interval="day"), "#/interval: unknown field"),
]


@pytest.mark.parametrize(
    ("body", "message"), [(b, m) for _, b, m in BAD_REQUESTS], ids=[c for c, _, _ in BAD_REQUESTS]
)
def test_bad_request_is_400_naming_the_field(world: ApiWorld, body: Any, message: str) -> None:
    headers = {"Authorization": f"Bearer {world.key}"}
    if isinstance(body, bytes):
        response = world.client.post("/api/v2/query", content=body, headers=headers)
    else:
        response = world.client.post("/api/v2/query", json=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error.startswith(message), error
    assert list(response.json()) == ["error"]


def test_validation_comes_before_the_site_lookup(world: ApiWorld) -> None:
    """A bad request says so whatever the site: nothing about sites leaks from 400s."""
    error = world.error({**VALID, "site_id": "nowhere.example", "metrics": ["foo"]})
    assert error.startswith("#/metrics/0")
