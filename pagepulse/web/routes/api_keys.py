"""Account → API keys: create a named Stats API key (shown once), list, revoke.

The new key is rendered in the response to the POST that created it, never put in a
redirect, cookie or flash message, and the page is ``no-store``: once it is left, only
the key's prefix remains visible.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response

from pagepulse.control import api_keys, plans
from pagepulse.web.deps import CsrfProtected, CurrentUser, DbDep
from pagepulse.web.templating import flash, redirect, render

router = APIRouter(prefix="/account/api-keys", dependencies=[CsrfProtected])

PAGE = "/account/api-keys"


def _page(
    request: Request,
    db: DbDep,
    user: CurrentUser,
    *,
    new_key: str | None = None,
    name: str = "",
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    settings = request.app.state.settings
    context = {
        # saas mode: without API access in the plan, the page shows the upgrade hint
        # instead of the create form; existing keys are listed (and may be revoked).
        "api_access": plans.feature_enabled(settings, db, user.id, "api_keys"),
        "keys": api_keys.list_api_keys(db, user.id),
        "new_key": new_key,
        "name": name,
        "errors": errors or [],
        "base_url": request.app.state.settings.base_url,
    }
    return render(request, "account/api_keys.html", context, status_code)


@router.get("")
def api_keys_page(request: Request, db: DbDep, user: CurrentUser) -> Response:
    return _page(request, db, user)


@router.post("")
def create_api_key(
    request: Request, db: DbDep, user: CurrentUser, name: Annotated[str, Form()] = ""
) -> Response:
    if not plans.feature_enabled(request.app.state.settings, db, user.id, "api_keys"):
        return _page(request, db, user, name=name, status_code=402)
    try:
        _record, key = api_keys.create_api_key(db, user.id, name)
    except ValueError as exc:
        return _page(request, db, user, name=name, errors=[str(exc)], status_code=400)
    return _page(request, db, user, new_key=key)


@router.post("/{key_id}/revoke")
def revoke_api_key(request: Request, db: DbDep, user: CurrentUser, key_id: int) -> Response:
    if not api_keys.revoke_api_key(db, user.id, key_id):
        raise HTTPException(status_code=404, detail="No such API key.")
    flash(request, "API key revoked. Requests with it are now refused.")
    return redirect(PAGE)
