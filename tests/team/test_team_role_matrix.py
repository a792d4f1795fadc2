"""Every route under /sites/{site_id}, tried as each role over HTTP on a real server.

The routes come from the app itself (its OpenAPI schema), and each must be listed in
``NEEDED`` with the least role that may use it: a new site route without an entry
fails ``test_every_site_route_has_a_role``, and one whose handler forgets its check
fails the matrix. Allowed means the role check let the request through (the handler
may still answer 400 to the empty form sent here); denied means 404 "No such site."
for a stranger, 403 naming the role for a member whose role is too low, and the log-in
page for an anonymous visitor.
"""

from __future__ import annotations

import re

import httpx
import pytest

from pagepulse.config import Settings
from pagepulse.control.members import ROLE_RANK
from pagepulse.web.app import create_web_app
from tests.team.helpers import EVERYONE, NO_SUCH_SITE, Team, csrf_token

# The least role each site route needs (owner ⊃ admin ⊃ viewer).
NEEDED: dict[tuple[str, str], str] = {
    ("GET", "/sites/{site_id}"): "viewer",
    ("GET", "/sites/{site_id}/widget"): "viewer",
    ("GET", "/sites/{site_id}/export"): "viewer",
    ("GET", "/sites/{site_id}/verify"): "viewer",
    ("GET", "/sites/{site_id}/reports"): "viewer",
    ("POST", "/sites/{site_id}/reports"): "viewer",
    ("POST", "/sites/{site_id}/leave"): "viewer",
    ("GET", "/sites/{site_id}/snippet"): "admin",
    ("GET", "/sites/{site_id}/settings"): "admin",
    ("POST", "/sites/{site_id}/settings"): "admin",
    ("POST", "/sites/{site_id}/retention"): "admin",
    ("GET", "/sites/{site_id}/events.zip"): "admin",
    ("GET", "/sites/{site_id}/shares"): "admin",
    ("POST", "/sites/{site_id}/shares"): "admin",
    ("POST", "/sites/{site_id}/shares/delete"): "admin",
    ("GET", "/sites/{site_id}/domain"): "admin",
    ("POST", "/sites/{site_id}/domain"): "admin",
    ("POST", "/sites/{site_id}/domain/verify"): "admin",
    ("POST", "/sites/{site_id}/domain/delete"): "admin",
    ("GET", "/sites/{site_id}/members"): "admin",
    ("POST", "/sites/{site_id}/members/invite"): "admin",
    ("POST", "/sites/{site_id}/members/invitations/revoke"): "admin",
    ("POST", "/sites/{site_id}/members/role"): "admin",
    ("POST", "/sites/{site_id}/members/remove"): "admin",
    ("POST", "/sites/{site_id}/members/transfer"): "owner",
    ("GET", "/sites/{site_id}/delete"): "owner",
    ("POST", "/sites/{site_id}/delete"): "owner",
}


def site_routes() -> set[tuple[str, str]]:
    """(method, path) of every operation of the app whose path starts with /sites/{site_id}
    (from its OpenAPI schema, as the CSRF test enumerates routes)."""
    app = create_web_app(Settings(secret_key="routes-only"))
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/sites/{site_id}")
        for method in operations
    }


def test_every_site_route_has_a_role() -> None:
    routes = site_routes()
    assert routes - NEEDED.keys() == set(), "add these routes to NEEDED with their least role"
    assert NEEDED.keys() - routes == set(), "NEEDED lists routes the app no longer has"


def request_as(team: Team, who: str, method: str, path: str) -> httpx.Response:
    browser = team.clients[who]
    url = path.replace("{site_id}", str(team.site_id))
    if method == "GET":
        return browser.get(url, follow_redirects=False)
    # A valid CSRF token and nothing else: the role check comes before the form's.
    token = csrf_token(browser, "/sites" if who != "anonymous" else "/login")
    return browser.post(url, data={"csrf_token": token}, follow_redirects=False)


def assert_allowed(response: httpx.Response, who: str) -> None:
    assert response.status_code < 500, (who, response.status_code, response.text[:500])
    assert response.status_code not in (401, 403), (who, response.status_code)
    assert not (response.status_code == 404 and NO_SUCH_SITE in response.text), who
    assert not response.headers.get("location", "").startswith("/login"), who


def assert_denied(response: httpx.Response, who: str, needed: str) -> None:
    if who == "anonymous":
        assert response.status_code == 303, response.status_code
        assert response.headers["location"].startswith("/login"), response.headers["location"]
    elif who == "stranger":
        assert response.status_code == 404, response.status_code
        assert NO_SUCH_SITE in response.text
    else:
        assert response.status_code == 403, (who, response.status_code)
        expected = "Only the site's owner can" if needed == "owner" else "owner and its admins"
        assert expected in response.text.replace("&#39;", "'")


@pytest.mark.parametrize(("method", "path"), sorted(NEEDED), ids=lambda v: str(v))
def test_each_role_gets_what_the_route_allows(team: Team, method: str, path: str) -> None:
    needed = NEEDED[(method, path)]
    for who in EVERYONE:
        team.reset()
        response = request_as(team, who, method, path)
        allowed = who in ROLE_RANK and ROLE_RANK[who] >= ROLE_RANK[needed]  # type: ignore[index]
        if allowed:
            assert_allowed(response, who)
        else:
            assert_denied(response, who, needed)
    team.reset()


def test_a_stranger_gets_the_same_404_as_for_a_site_that_does_not_exist(team: Team) -> None:
    stranger = team.clients["stranger"]
    theirs = stranger.get(f"/sites/{team.site_id}/settings")
    missing = stranger.get("/sites/999999/settings")
    assert theirs.status_code == missing.status_code == 404
    assert html_detail(theirs) == html_detail(missing) == NO_SUCH_SITE
    own = stranger.get(f"/sites/{team.stranger_site_id}/settings")
    assert own.status_code == 200


def html_detail(response: httpx.Response) -> str:
    match = re.search(r'<p class="error-detail">(.*?)</p>', response.text)
    assert match, response.text[:300]
    return match.group(1)
