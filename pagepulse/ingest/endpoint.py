"""``POST /api/event``: the ingestion route, as a raw ASGI app.

It sits in front of FastAPI (see ``pagepulse.asgi``) because it is the one hot path:
parsing, validation, enrichment and hashing cost tens of microseconds, and the
framework's routing and dependency layers would cost more than all of it.

Answers: 202 once the event is durable in the write-ahead log; 202 with
``x-pagepulse-dropped: 1`` for bots and unknown or disabled domains; 400 with a JSON
list of errors; 413 over 8 KiB; 429 over the site's rate; 503 when the event could
not be made durable (e.g. a full disk). CORS is open on this route only.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time

import orjson

from pagepulse.ingest.enrich import device_class, parse_page_url, parse_user_agent, referrer_source
from pagepulse.ingest.payload import MAX_BODY_BYTES, InvalidBeacon, parse_beacon
from pagepulse.ingest.service import IngestService
from pagepulse.ingest.visitor import visitor_id
from pagepulse.ingest.wal import LogWriteFailed
from pagepulse.ingest.writer import encode_row
from pagepulse.net import client_ip

INGEST_PATHS = frozenset({"/api/event", "/api/v1/event"})

_ANY_ORIGIN = (b"access-control-allow-origin", b"*")
# Only a preflight needs the rest; beacons (text/plain POSTs) are not preflighted.
_PREFLIGHT = [
    _ANY_ORIGIN,
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"Content-Type"),
    (b"access-control-max-age", b"86400"),
    (b"content-length", b"0"),
]
_JSON = (b"content-type", b"application/json")
_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_DROPPED = (b"x-pagepulse-dropped", b"1")
# The answers to nearly every request, built once: uvicorn walks each header.
_ACCEPTED = [_ANY_ORIGIN, _TEXT, (b"content-length", b"2")]
_ACCEPTED_DROPPED = [*_ACCEPTED, _DROPPED]


class TooLarge(Exception):
    pass


async def _send(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, _ANY_ORIGIN, (b"content-length", str(len(body)).encode())]
    await _send_raw(send, status, body, headers)


async def _send_raw(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _errors(send, status: int, errors: list[str], extra=()) -> None:
    await _send(send, status, orjson.dumps({"errors": errors}), [_JSON, *extra])


async def _unavailable(send) -> None:
    errors = ["storage unavailable: event not stored, retry later"]
    await _errors(send, 503, errors, [(b"retry-after", b"5")])


async def _read_body(receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class IngestEndpoint:
    def __init__(self, service: IngestService):
        self.service = service

    async def __call__(self, scope, receive, send) -> None:
        method = scope["method"]
        if method == "OPTIONS":
            await _send_raw(send, 204, b"", _PREFLIGHT)
            return
        if method != "POST":
            await _errors(send, 405, ["method: use POST"], [(b"allow", b"POST, OPTIONS")])
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await _errors(send, 413, [f"body: at most {MAX_BODY_BYTES} bytes"])
            return
        try:
            body = await _read_body(receive)
        except TooLarge:
            await _errors(send, 413, [f"body: at most {MAX_BODY_BYTES} bytes"])
            return
        try:
            beacon = parse_beacon(body)
        except InvalidBeacon as exc:
            await _errors(send, 400, exc.errors)
            return
        page = parse_page_url(beacon.url, beacon.hash_mode)
        if page is None:
            await _errors(send, 400, ["u: must be an absolute http(s) URL"])
            return

        user_agent = headers.get(b"user-agent", b"").decode("latin-1")
        client = parse_user_agent(user_agent)
        site_ids = [s for d in beacon.domains if (s := self.service.site_id(d)) is not None]
        if client.is_bot or not site_ids:
            await _send_raw(send, 202, b"ok", _ACCEPTED_DROPPED)
            return
        for site_id in site_ids:
            wait = self.service.limiter.retry_after(site_id)
            if wait:
                retry = str(max(1, math.ceil(wait))).encode()
                await _errors(send, 429, ["rate limit exceeded"], [(b"retry-after", retry)])
                return

        peer = scope.get("client")
        forwarded = headers.get(b"x-forwarded-for")
        ip = client_ip(
            peer[0] if peer else None,
            forwarded.decode("latin-1") if forwarded else None,
            self.service.settings.trusted_proxy_networks,
        )
        now_ns = time.time_ns()
        try:
            salt = self.service.salt(now_ns)
        except (OSError, sqlite3.Error):  # a new day's salt could not be stored
            await _unavailable(send)
            return
        previous_salt = self.service.previous_salt(now_ns)  # None after 00:30 UTC
        referrer, source = referrer_source(beacon.referrer, page.hostname, page.ref)
        country = self.service.countries.country(ip)
        device = device_class(beacon.screen_width)
        records = []
        for site_id in site_ids:
            previous_id = None
            if previous_salt is not None:  # the id under yesterday's salt (docs/lake.md)
                previous_id = visitor_id(previous_salt, site_id, ip, user_agent)
            row = (
                now_ns // 1000,
                visitor_id(salt, site_id, ip, user_agent),
                beacon.name,
                page.hostname,
                page.pathname,
                referrer,
                source,
                page.utm_source,
                page.utm_medium,
                page.utm_campaign,
                page.utm_content,
                page.utm_term,
                country,
                client.browser,
                client.browser_version,
                client.os,
                client.os_version,
                device,
                beacon.screen_width,
                beacon.props,
                previous_id,
            )
            records.append(encode_row(site_id, row))
        del ip  # used in memory only, above; never stored or logged
        try:
            if len(records) == 1:
                await self.service.wal.append(records[0])
            else:
                await asyncio.gather(*(self.service.wal.append(r) for r in records))
        except LogWriteFailed:
            await _unavailable(send)
            return
        await _send_raw(send, 202, b"ok", _ACCEPTED)
