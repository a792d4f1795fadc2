"""Cookies set from anywhere in a request (a dependency, a handler, a template helper).

FastAPI drops cookies set on an injected ``Response`` when a handler returns its own
response, so code queues them on the request and ``QueuedCookiesMiddleware`` adds
them to whatever response goes out. Every cookie here is HttpOnly, SameSite=Lax,
Path=/ and Secure when the site is served over https.
"""

from __future__ import annotations

import http.cookies

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_QUEUE = "pagepulse.queued_cookies"


def cookie_header(name: str, value: str, *, secure: bool, max_age: int | None = None) -> str:
    cookie: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    cookie[name] = value
    morsel = cookie[name]
    morsel["path"] = "/"
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    if secure:
        morsel["secure"] = True
    if max_age is not None:
        morsel["max-age"] = max_age
    return morsel.OutputString()


def queue_cookie(
    request: Request, name: str, value: str, *, secure: bool, max_age: int | None = None
) -> None:
    """Set a cookie on this request's response; a later call for the same name wins."""
    request.scope.setdefault("state", {}).setdefault(_QUEUE, {})[name] = cookie_header(
        name, value, secure=secure, max_age=max_age
    )


def queue_cookie_deletion(request: Request, name: str, *, secure: bool) -> None:
    queue_cookie(request, name, "", secure=secure, max_age=0)


class QueuedCookiesMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Request.state is backed by this dict; creating it here makes sure the
        # handlers write into the very dict we read back below.
        state = scope.setdefault("state", {})

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start" and state.get(_QUEUE):
                headers = list(message.get("headers", []))
                headers += [(b"set-cookie", v.encode("latin-1")) for v in state[_QUEUE].values()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookies)
