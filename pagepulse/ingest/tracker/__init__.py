"""Serving the tracking script at ``/js/script.js`` (and its alias ``/js/p.js``).

Only the serving lives here; the script's source is ``script.js`` beside this file and
``make assets`` minifies it into ``dist/script.js``. The built file is read once, on first
use, and kept with its gzip -9 form; call :func:`tracker_size_gzip` at start-up to fail
early when the build is missing.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request, Response

BUILT_SCRIPT = Path(__file__).parent / "dist" / "script.js"
# The tracker is cached by browsers for an hour: changes reach every site within the hour,
# yet a site's visitors fetch it about once per visit, not once per page.
CACHE_CONTROL = "public, max-age=3600"
MEDIA_TYPE = "application/javascript; charset=utf-8"

router = APIRouter()


class TrackerNotBuiltError(RuntimeError):
    pass


@dataclass(frozen=True)
class Representation:
    body: bytes
    etag: str


@dataclass(frozen=True)
class BuiltTracker:
    plain: Representation
    gzipped: Representation


@cache
def built_tracker() -> BuiltTracker:
    try:
        script = BUILT_SCRIPT.read_bytes()
    except FileNotFoundError:
        raise TrackerNotBuiltError(
            f"{BUILT_SCRIPT} is missing: run `make assets` to build the tracking script"
        ) from None
    digest = hashlib.sha256(script).hexdigest()[:20]
    # mtime=0 keeps the gzip bytes, and so its ETag, the same across restarts and workers.
    # A strong ETag names exact bytes, so the gzip form gets its own.
    return BuiltTracker(
        plain=Representation(script, f'"{digest}"'),
        gzipped=Representation(gzip.compress(script, compresslevel=9, mtime=0), f'"{digest}-gz"'),
    )


def tracker_size_gzip() -> int:
    """Size in bytes of the built tracker compressed with gzip -9."""
    return len(built_tracker().gzipped.body)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (``gzip;q=0`` refuses it)."""
    quality_by_coding: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, *parameters = (part.strip() for part in item.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        quality_by_coding[coding.lower()] = quality
    return quality_by_coding.get("gzip", quality_by_coding.get("*", 0.0)) > 0


def etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison: ``W/"x"`` matches ``"x"``."""
    candidates = (candidate.strip().removeprefix("W/") for candidate in if_none_match.split(","))
    return any(candidate in ("*", etag) for candidate in candidates)


@router.api_route("/js/script.js", methods=["GET", "HEAD"])
@router.api_route("/js/p.js", methods=["GET", "HEAD"], include_in_schema=False)
async def tracking_script(request: Request) -> Response:
    tracker = built_tracker()
    wants_gzip = accepts_gzip(request.headers.get("accept-encoding", ""))
    representation = tracker.gzipped if wants_gzip else tracker.plain
    headers = {
        "ETag": representation.etag,
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept-Encoding",
        # Any site may load it; it carries no credentials and reads none.
        "Access-Control-Allow-Origin": "*",
    }
    if etag_matches(request.headers.get("if-none-match", ""), representation.etag):
        return Response(status_code=304, headers=headers)
    if wants_gzip:
        headers["Content-Encoding"] = "gzip"
    # For HEAD the server sends these headers and drops the body.
    return Response(representation.body, media_type=MEDIA_TYPE, headers=headers)
