"""``POST /api/event``: the ingestion route, as a raw ASGI app.

It sits in front of FastAPI (see ``pagepulse.asgi``) because it is the one hot path:
parsing, validation, enrichment and hashing cost tens of microseconds, and the
framework's routing and dependency layers would cost more than all of it.
``pagepulse serve`` goes one step further and answers beacons inside uvicorn's HTTP
protocol (:mod:`pagepulse.ingest.http`); both call :meth:`IngestEndpoint.accept`.

Answers: 202 once the event is durable in the write-ahead log; 202 with
``x-pagepulse-dropped: 1`` for bots and unknown or disabled domains; 400 with a JSON
list of errors; 413 over 8 KiB; 429 over the site's rate; 503 when the event could
not be made durable (e.g. a full disk). CORS is open on this route only.
"""

from __future__ import annotations

import asyncio
import logging
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
INGEST_RAW_PATHS = frozenset(path.encode() for path in INGEST_PATHS)

log = logging.getLogger("pagepulse.ingest")

_ANY_ORIGIN = (b"access-control-allow-origin", b"*")
_JSON = (b"content-type", b"application/json")
_TEXT = (b"content-type", b"text/plain; charset=utf-8")


class Answer:
    """One HTTP answer of the route: ``status``, ``headers`` and ``body`` for ASGI, and
    ``head``, the same headers and body as bytes for :mod:`pagepulse.ingest.http`.
    Content-Length and the open CORS header are added here."""

    __slots__ = ("body", "head", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]):
        self.status = status
        self.body = body
        self.headers = [*headers, _ANY_ORIGIN, (b"content-length", str(len(body)).encode())]
        lines = [b"%s: %s\r\n" % (name, value) for name, value in self.headers]
        self.head = b"".join(lines) + b"\r\n" + body

    @classmethod
    def errors(cls, status: int, errors: list[str], extra=()) -> Answer:
        return cls(status, orjson.dumps({"errors": errors}), [_JSON, *extra])

    @classmethod
    def failed(cls) -> Answer:
        return cls.errors(500, ["internal error: event not stored, retry later"])


# The answers to nearly every request, built once.
ACCEPTED = Answer(202, b"ok", [_TEXT])
DROPPED = Answer(202, b"ok", [_TEXT, (b"x-pagepulse-dropped", b"1")])
UNAVAILABLE = Answer.errors(
    503, ["storage unavailable: event not stored, retry later"], [(b"retry-after", b"5")]
)
TOO_LARGE = Answer.errors(413, [f"body: at most {MAX_BODY_BYTES} bytes"])
NOT_POST = Answer.errors(405, ["method: use POST"], [(b"allow", b"POST, OPTIONS")])
# Only a preflight needs these; beacons (text/plain POSTs) are not preflighted.
PREFLIGHT = Answer(
    204,
    b"",
    [
        (b"access-control-allow-methods", b"POST, OPTIONS"),
        (b"access-control-allow-headers", b"Content-Type"),
        (b"access-control-max-age", b"86400"),
    ],
)


def durable_answer(logged: asyncio.Future) -> Answer:
    """The answer once the log append of :meth:`IngestEndpoint.accept` is done."""
    error = logged.exception()
    if error is None:
        return ACCEPTED
    if isinstance(error, LogWriteFailed):
        return UNAVAILABLE
    log.error("ingestion failed", exc_info=error)
    return Answer.failed()


class _TooLarge(Exception):
    pass


async def _read_body(receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class IngestEndpoint:
    def __init__(self, service: IngestService):
        self.service = service

    async def __call__(self, scope, receive, send) -> None:
        answer = await self._handle(scope, receive)
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": answer.headers})  # fmt: skip
        await send({"type": "http.response.body", "body": answer.body})

    async def _handle(self, scope, receive) -> Answer:
        method = scope["method"]
        if method == "OPTIONS":
            return PREFLIGHT
        if method != "POST":
            return NOT_POST
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return TOO_LARGE
        try:
            body = await _read_body(receive)
        except _TooLarge:
            return TOO_LARGE
        peer = scope.get("client")
        outcome = self.accept(headers, body, peer[0] if peer else None)
        if isinstance(outcome, Answer):
            return outcome
        await asyncio.wait([outcome])
        return durable_answer(outcome)

    def accept(
        self, headers: dict[bytes, bytes], body: bytes, peer: str | None
    ) -> Answer | asyncio.Future:
        """Everything up to durability: an answer now, or the log append to wait for
        (a future; :func:`durable_answer` turns it into the answer)."""
        try:
            beacon = parse_beacon(body)
        except InvalidBeacon as exc:
            return Answer.errors(400, exc.errors)
        page = parse_page_url(beacon.url, beacon.hash_mode)
        if page is None:
            return Answer.errors(400, ["u: must be an absolute http(s) URL"])

        user_agent = headers.get(b"user-agent", b"").decode("latin-1")
        client = parse_user_agent(user_agent)
        site_ids = [s for d in beacon.domains if (s := self.service.site_id(d)) is not None]
        if client.is_bot or not site_ids:
            return DROPPED
        for site_id in site_ids:
            wait = self.service.limiter.retry_after(site_id)
            if wait:
                retry = str(max(1, math.ceil(wait))).encode()
                return Answer.errors(429, ["rate limit exceeded"], [(b"retry-after", retry)])

        forwarded = headers.get(b"x-forwarded-for")
        ip = client_ip(
            peer,
            forwarded.decode("latin-1") if forwarded else None,
            self.service.settings.trusted_proxy_networks,
        )
        now_ns = time.time_ns()
        try:
            salt = self.service.salt(now_ns)
        except (OSError, sqlite3.Error):  # a new day's salt could not be stored
            return UNAVAILABLE
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
        wal = self.service.wal
        if len(records) == 1:
            return wal.submit(records[0])
        return asyncio.gather(*(wal.submit(r) for r in records))
