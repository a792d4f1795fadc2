"""The app shell: start-up, health, static files, docs switch, security headers."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from pagepulse.config import Settings
from pagepulse.web.app import create_web_app
from pagepulse.web.security import CONTENT_SECURITY_POLICY
from pagepulse.web.templating import TEMPLATES_DIR

PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",
}


def test_start_up_migrates_and_enters_hooks_in_order(settings: Settings) -> None:
    events: list[str] = []

    def hook(name: str):
        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            assert app.state.settings is settings
            events.append(f"enter {name}")
            yield
            events.append(f"exit {name}")

        return lifespan

    app = create_web_app(settings, lifespan_hooks=[hook("a"), hook("b")])
    with TestClient(app) as client:
        assert events == ["enter a", "enter b"]
        assert client.get("/health").json() == {"status": "ok"}
    assert events == ["enter a", "enter b", "exit b", "exit a"]
    tables = {
        row[0]
        for row in sqlite3.connect(settings.db_path).execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    assert {"users", "sites", "sessions", "login_failures"} <= tables


def test_security_headers_on_pages_errors_and_static(browser) -> None:
    for url in ("/login", "/register", "/no-such-page", "/static/app.css", "/health"):
        response = browser.get(url)
        for name, value in PAGE_HEADERS.items():
            assert response.headers.get(name) == value, (url, name)
        assert "camera=()" in response.headers["permissions-policy"]


def test_embedded_paths_get_only_nosniff(settings: Settings) -> None:
    app = create_web_app(settings)
    tracker = APIRouter()

    @tracker.get("/js/script.js")
    def script() -> PlainTextResponse:
        return PlainTextResponse("/* tracker */", media_type="text/javascript")

    app.include_router(tracker)
    with TestClient(app) as client:
        response = client.get("/js/script.js")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in response.headers
    assert "x-frame-options" not in response.headers


def test_docs_are_off_by_default(browser) -> None:
    for url in ("/docs", "/redoc", "/openapi.json"):
        assert browser.get(url).status_code == 404, url


def test_docs_when_enabled(settings: Settings) -> None:
    settings.enable_docs = True
    with TestClient(create_web_app(settings)) as client:
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200


def test_our_css_is_served(browser) -> None:
    response = browser.get("/static/app.css")
    assert response.status_code == 200
    assert "font-family: system-ui" in response.text


def test_templates_need_no_inline_script_or_style() -> None:
    """The CSP allows scripts and styles from our own files only."""
    for path in Path(TEMPLATES_DIR).rglob("*.html"):
        text = path.read_text()
        if path.parent.name == "email":
            # Email bodies are no web pages (no CSP applies, mail clients drop style
            # sheets): styled inline, and still without scripts or handlers.
            assert "<script" not in text and not re.search(r"\son[a-z]+\s*=", text), path.name
            continue
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, (path.name, tag)
        assert not re.search(r"<style\b", text), path.name
        assert not re.search(r"\sstyle\s*=", text), path.name
        assert not re.search(r"\son[a-z]+\s*=", text), path.name
        # No CDN or external font: every resource comes from this server.
        assert not re.search(r'(src|href)="(https?:)?//', text), path.name
