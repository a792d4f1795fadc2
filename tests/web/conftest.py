"""Fixtures for the web tests: the real app over a per-test data dir, driven through
its HTML forms like a browser would (``tests/support/forms.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from passlib.context import CryptContext

from pagepulse.config import Settings
from pagepulse.control import users
from pagepulse.web.app import create_web_app
from tests.support.forms import Browser


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2, at the lowest cost: the throttling tests log in dozens of times."""
    cheap = CryptContext(
        schemes=["argon2"], argon2__memory_cost=8, argon2__rounds=1, argon2__parallelism=1
    )
    monkeypatch.setattr(users, "_passwords", cheap)
    monkeypatch.setattr(users, "_DUMMY_HASH", cheap.hash("pagepulse-dummy-password"))


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
