"""A site's raw events, from its settings page: how long to keep them, and a download
of all of them (the lake's files as a zip, like ``pagepulse export``).

Both take ``ManagedSite`` (the owner or an admin; 404 for anybody without a role,
403 for a viewer); the retention form is CSRF-protected like every form. The form
itself is ``templates/sites/_data.html``, included by the settings page.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from pagepulse.control import sites
from pagepulse.lake.export import write_zip
from pagepulse.lake.retention import RETENTION_CHOICES
from pagepulse.web.deps import CsrfProtected, DbDep, ManagedSite, SettingsDep
from pagepulse.web.templating import flash, redirect

router = APIRouter(dependencies=[CsrfProtected])

# The zip is built in memory up to this size, then on disk: never whole in memory.
SPOOL_BYTES = 8 << 20
_CHUNK = 1 << 20


def retention_label(months: int | None) -> str:
    return "forever" if months is None else f"{months} months"


@router.post("/sites/{site_id:int}/retention")
def save_retention(
    request: Request, db: DbDep, site: ManagedSite, months: Annotated[str, Form()] = ""
) -> Response:
    """``months``: "forever" or one of ``RETENTION_CHOICES``."""
    if months == "forever":
        value = None
    elif months.isdigit() and int(months) in RETENTION_CHOICES:
        value = int(months)
    else:
        raise HTTPException(status_code=400, detail="Choose how long to keep events from the list.")
    sites.set_retention_months(db, site.id, value)
    if value is None:
        flash(request, "Raw events are now kept forever.")
    else:
        flash(
            request,
            f"Raw events are now kept {value} months: older days are deleted at the next "
            "compaction run.",
        )
    return redirect(f"/sites/{site.id}/settings")


@router.get("/sites/{site_id:int}/events.zip")
async def download_events(site: ManagedSite, settings: SettingsDep) -> Response:
    """Every live event file of the site, in the lake's layout, with a README."""
    spool: BinaryIO = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    try:
        await run_in_threadpool(write_zip, settings.events_dir, site.id, spool)
    except BaseException:
        spool.close()
        raise
    size = spool.tell()
    spool.seek(0)
    filename = f"pagepulse-{site.domain}-events-{dt.datetime.now(dt.UTC):%Y-%m-%d}.zip"
    return StreamingResponse(
        _chunks(spool),
        media_type="application/zip",
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "content-length": str(size),
            "cache-control": "no-store",
        },
        background=BackgroundTask(spool.close),
    )


def _chunks(spool: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := spool.read(_CHUNK):
            yield chunk
    finally:
        spool.close()
