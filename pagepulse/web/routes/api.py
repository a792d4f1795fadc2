"""The Stats API: ``POST /api/v2/query`` with ``Authorization: Bearer <key>``.

No cookies and no CSRF token here: the bearer key is the only credential. The logic
lives in ``pagepulse.web.stats_api``; see docs/api.md for the request and response.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from pagepulse.control.api_keys import ApiKey
from pagepulse.web import stats_api
from pagepulse.web.deps import DbDep, SettingsDep

router = APIRouter(prefix="/api/v2", tags=["Stats API"])

# A real query is a few hundred bytes; this bounds what one request makes us hold.
MAX_BODY_BYTES = 64 * 1024


def get_api_key(request: Request, db: DbDep) -> ApiKey:
    return stats_api.authenticate(db, request.headers.get("authorization"))


ApiKeyDep = Annotated[ApiKey, Depends(get_api_key)]


@router.post("/query")
async def query(request: Request, key: ApiKeyDep, db: DbDep, settings: SettingsDep) -> JSONResponse:
    spec = stats_api.validate(stats_api.parse_request(await _read_body(request)))
    # SQLite and DuckDB block: run the whole answer on one worker thread (the query
    # layer caches a request's scope tables per thread).
    body = await run_in_threadpool(_answer, db, key, spec, settings.events_dir)
    return JSONResponse(body, headers={"cache-control": "no-store"})


def _answer(
    db: sqlite3.Connection, key: ApiKey, spec: stats_api.QuerySpec, events_dir: Path
) -> dict[str, Any]:
    site = stats_api.readable_site(db, key, spec.site_id)
    return stats_api.answer(spec, site, events_dir)


async def _read_body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise stats_api.ApiError(f"#: the request body exceeds {MAX_BODY_BYTES} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)
