"""Rendering pages: the Jinja2 environment, the context every page gets (user, CSRF
token, flash messages), redirects, and flash messages carried across a redirect.

Templates live in the repository's top-level ``templates/`` folder; partials start
with ``_``. Autoescaping is always on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from pagepulse.config import Settings
from pagepulse.web import auth
from pagepulse.web.cookies import queue_cookie, queue_cookie_deletion
from pagepulse.web.deps import csrf_binding

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
FLASH_COOKIE = "pp_flash"


def create_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=env)


def _csrf_token(request: Request, settings: Settings) -> str:
    binding = csrf_binding(request, settings)
    if binding is None:
        # First visit to a form before logging in: bind its token to a fresh nonce.
        nonce = auth.new_presession_nonce()
        queue_cookie(
            request,
            auth.PRESESSION_COOKIE,
            auth.sign_cookie(settings.secret, "presession", nonce),
            secure=settings.secure_cookies,
        )
        binding = auth.presession_csrf_binding(nonce)
    return auth.csrf_token(settings.secret, binding)


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    session: auth.Session | None = getattr(request.state, "session", None)
    page_context = {
        "user": session.user if session else None,
        "csrf_token": _csrf_token(request, settings),
        "flashes": pop_flashes(request),
        "registration_open": settings.registration_open,
        **(context or {}),
    }
    response = request.app.state.templates.TemplateResponse(
        request, template, page_context, status_code=status_code
    )
    # Pages may show account data: keep them out of shared and back-button caches.
    response.headers["cache-control"] = "no-store"
    return response


def redirect(url: str) -> RedirectResponse:
    """303, so the browser follows a form POST with a GET."""
    return RedirectResponse(url, status_code=303)


def flash(request: Request, message: str) -> None:
    """Show ``message`` on the next page rendered (typically after a redirect)."""
    settings: Settings = request.app.state.settings
    pending: list[str] = request.scope.setdefault("state", {}).setdefault("flash_out", [])
    pending.append(message)
    value = auth.sign_cookie(settings.secret, "flash", json.dumps(pending))
    queue_cookie(request, FLASH_COOKIE, value, secure=settings.secure_cookies)


def pop_flashes(request: Request) -> list[str]:
    settings: Settings = request.app.state.settings
    raw = auth.unsign_cookie(settings.secret, "flash", request.cookies.get(FLASH_COOKIE))
    if FLASH_COOKIE not in request.cookies:
        return []
    queue_cookie_deletion(request, FLASH_COOKIE, secure=settings.secure_cookies)
    try:
        messages = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [m for m in messages if isinstance(m, str)]
