"""The web application: ``create_web_app(settings)`` builds it, nothing at import time.

Start-up migrates the SQLite database, then enters each lifespan hook (the ingest
service passes its own; its routes are included by the caller, not imported here).
Pages live in ``routes/``, one router per area; request dependencies in ``deps.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pagepulse.config import Settings
from pagepulse.control import db as control_db
from pagepulse.control import plans
from pagepulse.reports import routes as report_routes
from pagepulse.web.auth import IpThrottle
from pagepulse.web.cookies import QueuedCookiesMiddleware
from pagepulse.web.custom_hosts import CustomHostsMiddleware, HostMap
from pagepulse.web.deps import LoginRequired
from pagepulse.web.routes import (
    account,
    api,
    api_keys,
    billing,
    dashboard,
    members,
    share,
    site_data,
    sites,
)
from pagepulse.web.routes.custom_domains import router as custom_domain_router
from pagepulse.web.routes.custom_domains import tls_router
from pagepulse.web.security import SecurityHeadersMiddleware
from pagepulse.web.stats_api import ApiError, api_error_response
from pagepulse.web.templating import create_templates, render

STATIC_DIR = Path(__file__).resolve().parent / "static"

LifespanHook = Callable[[FastAPI], contextlib.AbstractAsyncContextManager]


def create_web_app(settings: Settings, *, lifespan_hooks: Sequence[LifespanHook] = ()) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        control_db.open_database(settings.db_path).close()
        async with contextlib.AsyncExitStack() as stack:
            for hook in lifespan_hooks:
                await stack.enter_async_context(hook(app))
            yield

    docs = settings.enable_docs
    app = FastAPI(
        title="PagePulse",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    app.state.templates = create_templates()
    plans.register_template_globals(app.state.templates.env, settings)
    # Read (and on first start, create) the secret now rather than inside a request.
    app.state.ip_throttle = IpThrottle(settings.secret)

    app.state.host_map = HostMap(settings)
    # Innermost, so a custom host's 404 still gets the security headers.
    app.add_middleware(CustomHostsMiddleware, hosts=app.state.host_map)
    app.add_middleware(QueuedCookiesMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ApiError, api_error_response)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(account.router)
    app.include_router(sites.router)
    app.include_router(site_data.router)
    app.include_router(dashboard.router)
    app.include_router(share.router)
    app.include_router(members.router)
    app.include_router(api_keys.router)
    app.include_router(api.router)
    app.include_router(report_routes.router)
    app.include_router(report_routes.unsubscribe_router)
    app.include_router(custom_domain_router)
    app.include_router(tls_router)
    app.include_router(billing.router)
    app.include_router(billing.webhook_router)
    return app


def _login_required(request: Request, _exc: Exception) -> Response:
    if request.headers.get("hx-request"):
        # htmx would swap a redirect's target into the page; ask for a full navigation.
        return Response(status_code=401, headers={"HX-Redirect": "/login"})
    target = "/login"
    if request.method == "GET" and request.url.path != "/":
        target += "?" + urlencode({"next": request.url.path})
    return RedirectResponse(target, status_code=303)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith("/api/"):
        return await http_exception_handler(request, exc)
    response = render(
        request, "error.html", {"status": exc.status_code, "detail": exc.detail}, exc.status_code
    )
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response
