"""A browser-like TestClient for the web tests: one cookie jar, and forms filled and
submitted as a user would (CSRF tokens, hidden fields and form actions read from the page).

Imported as ``from tests.support.forms import Browser, html`` (not from a conftest: a
bare ``conftest`` import resolves to whichever folder's conftest was imported first).
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient
from selectolax.lexbor import LexborHTMLParser as HTMLParser

PASSWORD = "correct horse battery"


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
