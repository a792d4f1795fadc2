"""Fixtures for the web tests: the real app over a per-test data dir, driven through
its HTML forms like a browser would (CSRF tokens and form actions read from the page).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from passlib.context import CryptContext
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from pagepulse.config import Settings
from pagepulse.control import users
from pagepulse.web.app import create_web_app

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2, at the lowest cost: the throttling tests log in dozens of times."""
    cheap = CryptContext(
        schemes=["argon2"], argon2__memory_cost=8, argon2__rounds=1, argon2__parallelism=1
    )
    monkeypatch.setattr(users, "_passwords", cheap)
    monkeypatch.setattr(users, "_DUMMY_HASH", cheap.hash("pagepulse-dummy-password"))


def html(response: httpx.Response) -> HTMLParser:
    return HTMLParser(response.text)


class Browser:
    """A TestClient with one cookie jar, plus form submission as a user would do it."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(url, **kwargs)

    def token(self, url: str = "/login") -> str:
        """The CSRF token that the page at ``url`` puts in its forms."""
        node = html(self.get(url)).css_first("input[name=csrf_token]")
        assert node is not None, f"no csrf_token on {url}"
        return node.attributes["value"] or ""

    def submit(
        self,
        page_url: str,
        data: dict[str, str],
        *,
        form: str = "main form",
        follow_redirects: bool = True,
    ) -> httpx.Response:
        """Open ``page_url``, fill the form found by ``form`` (keeping its hidden fields)
        and post it to its action."""
        page = self.get(page_url)
        assert page.status_code == 200, (page_url, page.status_code)
        node = html(page).css_first(form)
        assert node is not None, f"no {form!r} on {page_url}"
        hidden = {
            field.attributes["name"] or "": field.attributes["value"] or ""
            for field in node.css("input[type=hidden]")
        }
        assert "csrf_token" in hidden, f"form {form!r} on {page_url} has no csrf_token"
        fields = {**hidden, **data}
        return self.client.post(
            node.attributes["action"] or page_url, data=fields, follow_redirects=follow_redirects
        )

    def register(self, email: str, password: str = PASSWORD) -> httpx.Response:
        data = {"email": email, "password": password, "confirm": password}
        return self.submit("/register", data)

    def login(self, email: str, password: str = PASSWORD, **kwargs: Any) -> httpx.Response:
        return self.submit("/login", {"email": email, "password": password}, **kwargs)

    def add_site(self, domain: str, timezone: str = "UTC") -> int:
        response = self.submit("/sites/new", {"domain": domain, "timezone": timezone})
        assert response.status_code == 200, response.text
        # The add form lands on the new site's snippet page: /sites/<id>/snippet.
        return int(response.url.path.split("/")[2])


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    app = create_web_app(settings)
    with TestClient(app):  # runs the lifespan: migrations
        yield app


@pytest.fixture
def new_browser(app: FastAPI) -> Iterator[Any]:
    """Make more browsers on the same app, e.g. from another client address."""
    clients: list[TestClient] = []

    def make(**client_kwargs: Any) -> Browser:
        client = TestClient(app, **client_kwargs)
        clients.append(client)
        return Browser(client)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def browser(new_browser: Any) -> Browser:
    return new_browser()


@pytest.fixture
def logged_in(new_browser: Any) -> Browser:
    """A browser with a fresh account ``owner@example.com`` logged in."""
    browser = new_browser()
    response = browser.register("owner@example.com")
    assert response.status_code == 200 and response.url.path == "/sites"
    return browser
