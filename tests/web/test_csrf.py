"""CSRF: every state-changing route refuses a request without the right token."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.support.forms import PASSWORD, Browser, html

STATE_CHANGING = {"post", "put", "patch", "delete"}


def state_changing_routes(app: FastAPI, site_id: int) -> list[tuple[str, str]]:
    """(method, url) of every state-changing route, from the app's own route table."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/api/"):
            continue  # bearer-key APIs ignore cookies, so CSRF cannot reach them (below)
        for method in operations:
            if method in STATE_CHANGING:
                found.append((method.upper(), path.replace("{site_id}", str(site_id))))
    return found


def test_the_route_table_is_enumerated(app: FastAPI) -> None:
    routes = state_changing_routes(app, 1)
    assert ("POST", "/login") in routes
    assert ("POST", "/sites/1/delete") in routes
    assert len(routes) >= 7


@pytest.mark.parametrize("token", [None, "", "0" * 64, "wrong"])
def test_every_route_refuses_a_missing_or_wrong_token(
    app: FastAPI, logged_in: Browser, new_browser, token: str | None
) -> None:
    site_id = logged_in.add_site("csrf.example")
    anonymous = new_browser()
    anonymous.get("/login")  # has a pre-session cookie, but sends no valid token
    for browser in (logged_in, anonymous):
        for method, url in state_changing_routes(app, site_id):
            data = {"email": "owner@example.com", "password": PASSWORD, "confirm": "csrf.example"}
            if token is not None:
                data["csrf_token"] = token
            response = browser.client.request(method, url, data=data, follow_redirects=False)
            assert response.status_code == 403, (method, url, response.status_code)
            assert "security token" in html(response).css_first(".error-detail").text()
    assert logged_in.get(f"/sites/{site_id}").status_code == 200  # nothing was deleted


def test_a_token_from_another_session_is_refused(logged_in: Browser, new_browser) -> None:
    site_id = logged_in.add_site("stolen.example")
    attacker = new_browser()
    attacker.register("attacker@example.com")
    token = attacker.token("/sites")
    response = logged_in.client.post(
        f"/sites/{site_id}/delete", data={"confirm": "stolen.example", "csrf_token": token}
    )
    assert response.status_code == 403
    assert logged_in.get(f"/sites/{site_id}").status_code == 200


def test_log_in_needs_the_pre_session_cookie_its_token_is_bound_to(
    logged_in: Browser, new_browser
) -> None:
    logged_in.submit("/sites", {}, form="form.logout-form")
    victim = new_browser()
    forged = {"email": "owner@example.com", "password": PASSWORD}
    # A token lifted from another visitor's page does not work without their cookie.
    forged["csrf_token"] = logged_in.token("/login")
    assert victim.client.post("/login", data=forged).status_code == 403


def test_htmx_requests_may_send_the_token_as_a_header(logged_in: Browser) -> None:
    site_id = logged_in.add_site("header.example")
    page = html(logged_in.get("/sites"))
    hx_headers = page.css_first("body").attributes["hx-headers"] or ""
    token = logged_in.token("/sites")
    assert token and token in hx_headers
    response = logged_in.client.post(
        f"/sites/{site_id}/delete",
        data={"confirm": "header.example"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert logged_in.get(f"/sites/{site_id}").status_code == 404


def test_the_stats_api_ignores_the_session_cookie(logged_in: Browser) -> None:
    """A logged-in browser's cookie is no credential for the API: a forged cross-site
    request carries the cookie but cannot carry a bearer key."""
    logged_in.add_site("api.example")
    body = {"site_id": "api.example", "metrics": ["visitors"], "date_range": "7d"}
    response = logged_in.client.post("/api/v2/query", json=body)
    assert response.status_code == 401
