"""What the built tracker sends, run in node against a fake browser (harness.js)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

PAGE = "https://shop.example/products?id=1"
ENDPOINT = "https://pulse.example/api/event"


def bodies(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [request["body"] for request in result["requests"]]


def pageview(url: str, **fields: Any) -> dict[str, Any]:
    return {"n": "pageview", "u": url, "d": "shop.example", "r": None, "w": 1280, **fields}


def test_pageview_on_load(run_tracker) -> None:
    result = run_tracker(
        {"url": PAGE, "referrer": "https://search.example/?q=shoes", "width": 1440}
    )

    assert result["requests"] == [
        {
            "transport": "beacon",
            "url": ENDPOINT,
            "bodyType": "string",
            "body": {
                "n": "pageview",
                "u": PAGE,
                "d": "shop.example",
                "r": "https://search.example/?q=shoes",
                "w": 1440,
            },
        }
    ]


def test_data_domain_and_data_api_are_honoured(run_tracker) -> None:
    result = run_tracker(
        {
            "url": PAGE,
            "attributes": {
                "data-domain": "shop.example.org",
                "data-api": "https://proxy.example/pp/event",
            },
        }
    )

    assert [request["url"] for request in result["requests"]] == ["https://proxy.example/pp/event"]
    assert bodies(result)[0]["d"] == "shop.example.org"


def test_endpoint_defaults_to_the_origin_the_script_came_from(run_tracker) -> None:
    result = run_tracker({"url": PAGE, "src": "https://stats.example:8443/js/p.js?v=2"})

    assert [request["url"] for request in result["requests"]] == [
        "https://stats.example:8443/api/event"
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:3000/",
        "http://127.0.0.1:8000/pricing",
        "http://[::1]/",
        "file:///home/someone/saved-page.html",
    ],
)
def test_nothing_is_sent_from_local_pages(run_tracker, url: str) -> None:
    result = run_tracker(
        {
            "url": url,
            "steps": [{"pushState": "/elsewhere"}, {"event": "Signup", "callback": True}],
        }
    )

    assert result["requests"] == []
    # Code waiting on the callback (a link navigating afterwards) must still go on.
    assert result["callbacks"] == ["Signup"]


def test_push_state_to_a_new_path_sends_one_more_pageview(run_tracker) -> None:
    result = run_tracker({"url": PAGE, "steps": [{"pushState": "/checkout"}]})

    assert bodies(result) == [pageview(PAGE), pageview("https://shop.example/checkout")]


def test_push_state_to_the_same_path_sends_nothing(run_tracker) -> None:
    result = run_tracker(
        {
            "url": PAGE,
            "steps": [
                {"pushState": PAGE},
                {"pushState": "/products?id=2"},
                {"pushState": "/products#reviews"},
            ],
        }
    )

    assert bodies(result) == [pageview(PAGE)]


def test_popstate_sends_a_pageview(run_tracker) -> None:
    result = run_tracker(
        {"url": PAGE, "steps": [{"pushState": "/checkout"}, {"popstate": "/products?id=1"}]}
    )

    assert [body["u"] for body in bodies(result)] == [
        PAGE,
        "https://shop.example/checkout",
        "https://shop.example/products?id=1",
    ]


def test_hash_mode_sends_once_per_hash_change_with_h(run_tracker) -> None:
    app = "https://shop.example/app#/home"
    result = run_tracker(
        {
            "url": app,
            "attributes": {"data-hash": ""},
            # The harness fires popstate and hashchange for one change, as browsers do.
            "steps": [{"hashchange": "#/settings"}, {"hashchange": "#/settings"}],
        }
    )

    assert bodies(result) == [
        pageview(app, h=1),
        pageview("https://shop.example/app#/settings", h=1),
    ]


def test_hash_mode_counts_a_hashchange_that_comes_without_popstate(run_tracker) -> None:
    result = run_tracker(
        {
            "url": "https://shop.example/app#/home",
            "attributes": {"data-hash": ""},
            "steps": [{"hashchange": "#/settings", "popstate": False}],
        }
    )

    assert [body["u"] for body in bodies(result)] == [
        "https://shop.example/app#/home",
        "https://shop.example/app#/settings",
    ]


def test_hash_changes_are_not_pages_without_data_hash(run_tracker) -> None:
    result = run_tracker(
        {"url": "https://shop.example/app#/home", "steps": [{"hashchange": "#/settings"}]}
    )

    assert bodies(result) == [pageview("https://shop.example/app#/home")]


def test_custom_event_with_props_and_callback(run_tracker) -> None:
    result = run_tracker(
        {
            "url": PAGE,
            "steps": [
                {"event": "Signup", "props": {"plan": "pro", "seats": 3}, "callback": True},
                {"event": "Download"},
            ],
        }
    )

    assert bodies(result) == [
        pageview(PAGE),
        {**pageview(PAGE), "n": "Signup", "p": {"plan": "pro", "seats": 3}},
        {**pageview(PAGE), "n": "Download"},
    ]
    assert result["callbacks"] == ["Signup"]


def test_events_queued_before_load_are_sent(run_tracker) -> None:
    result = run_tracker(
        {
            "url": PAGE,
            "queue": [
                {"name": "Signup", "props": {"plan": "pro"}, "callback": True},
                {"name": "Download"},
            ],
        }
    )

    assert [(body["n"], body.get("p")) for body in bodies(result)] == [
        ("pageview", None),
        ("Signup", {"plan": "pro"}),
        ("Download", None),
    ]
    assert result["callbacks"] == ["Signup"]


def test_prerendered_page_is_counted_once_when_shown(run_tracker) -> None:
    result = run_tracker(
        {
            "url": PAGE,
            "visibility": "prerender",
            "steps": [
                {"visibility": "visible"},
                {"visibility": "hidden"},
                {"visibility": "visible"},
            ],
        }
    )

    assert bodies(result) == [pageview(PAGE)]


def test_prerendered_page_never_shown_sends_nothing(run_tracker) -> None:
    assert run_tracker({"url": PAGE, "visibility": "prerender"})["requests"] == []


@pytest.mark.parametrize("beacon", ["missing", "refused"])
def test_fetch_with_keepalive_when_send_beacon_is_unavailable(run_tracker, beacon: str) -> None:
    result = run_tracker(
        {"url": PAGE, "beacon": beacon, "steps": [{"event": "Signup", "callback": True}]}
    )

    # One request per event: a refused beacon is not also counted.
    assert result["requests"] == [
        {
            "transport": "fetch",
            "url": ENDPOINT,
            "method": "POST",
            "keepalive": True,
            # A string body with no headers goes out as text/plain: no CORS preflight.
            "bodyType": "string",
            "headers": None,
            "body": body,
        }
        for body in [pageview(PAGE), {**pageview(PAGE), "n": "Signup"}]
    ]
    assert result["callbacks"] == ["Signup"]


def test_no_cookies_storage_or_fingerprinting_on_any_path(run_tracker) -> None:
    result = run_tracker(
        {
            "url": "https://shop.example/app#/home",
            "attributes": {"data-hash": "", "data-domain": "shop.example"},
            "visibility": "prerender",
            "beacon": "refused",
            "queue": [{"name": "Early", "callback": True}],
            "steps": [
                {"visibility": "visible"},
                {"pushState": "/app/2"},
                {"popstate": "/app"},
                {"hashchange": "#/x"},
                {"event": "Late", "props": {"a": "b"}, "callback": True},
            ],
        }
    )

    assert result["forbidden"] == []
    assert len(result["requests"]) == 6
    assert result["callbacks"] == ["Early", "Late"]


@pytest.mark.parametrize(
    "probe, touched",
    [
        ("document.cookie", "document.cookie"),
        ("localStorage.getItem('x')", "localStorage"),
        ("sessionStorage", "sessionStorage"),
        ("navigator.userAgent", "navigator.userAgent"),
        ("screen.width", "screen"),
    ],
)
def test_harness_catches_what_the_tracker_must_not_touch(
    run_tracker, tmp_path: Path, probe: str, touched: str
) -> None:
    # Proves the test above can fail: the fakes notice and throw.
    snooping = tmp_path / "snooping.js"
    snooping.write_text(f"try {{ {probe} }} catch (e) {{}}\n")

    result = run_tracker({"url": PAGE}, script=snooping, allow_error=True)

    assert result["forbidden"] == [touched]
