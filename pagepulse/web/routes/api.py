"""The Stats API: ``POST /api/v2/query`` with ``Authorization: Bearer <key>``.

No cookies and no CSRF token here: the bearer key is the only credential. The logic
lives in ``pagepulse.web.stats_api``; see docs/api.md for the request and response.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from pagepulse.config import Settings
from pagepulse.control import plans
from pagepulse.control.api_keys import ApiKey
from pagepulse.web import stats_api
from pagepulse.web.deps import DbDep, SettingsDep

router = APIRouter(prefix="/api/v2", tags=["Stats API"])

# A real query is a few hundred bytes; this bounds what one request makes us hold.
MAX_BODY_BYTES = 64 * 1024
NOT_IN_PLAN = (
    "API access is not part of this account's plan: the key is kept, and works again "
    "once the account is on a plan with API access (Account → Usage)"
)


def get_api_key(request: Request, db: DbDep, settings: SettingsDep) -> ApiKey:
    """The request's key; 402 when its account's plan lacks API access (saas mode)."""
    key = stats_api.authenticate(db, request.headers.get("authorization"))
    if not plans.feature_enabled(settings, db, key.user_id, "api_keys"):
        raise stats_api.ApiError(NOT_IN_PLAN, 402)
    return key


ApiKeyDep = Annotated[ApiKey, Depends(get_api_key)]


@router.post("/query")
async def query(request: Request, key: ApiKeyDep, db: DbDep, settings: SettingsDep) -> JSONResponse:
    spec = stats_api.validate(stats_api.parse_request(await _read_body(request)))
    # SQLite and DuckDB block: run the whole answer on one worker thread (the query
    # layer caches a request's scope tables per thread).
    body = await run_in_threadpool(_answer, db, key, spec, settings)
    return JSONResponse(body, headers={"cache-control": "no-store"})


def _answer(
    db: sqlite3.Connection, key: ApiKey, spec: stats_api.QuerySpec, settings: Settings
) -> dict[str, Any]:
    site = stats_api.readable_site(settings, db, key, spec.site_id)
    return stats_api.answer(spec, site, settings.events_dir)


async def _read_body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise stats_api.ApiError(f"#: the request body exceeds {MAX_BODY_BYTES} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)
