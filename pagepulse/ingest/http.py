"""uvicorn's httptools protocol, with the ingestion route answered inline.

``pagepulse serve`` runs uvicorn with :class:`IngestHttpProtocol`. A beacon
(``POST /api/event``) is handled in the parser callbacks of its connection: no ASGI
task, no scope, receive or send messages, and one socket write for the whole answer.
Every other request, and any beacon that arrives while the connection is busy with
another request (pipelining), takes uvicorn's normal ASGI path, where
:class:`~pagepulse.ingest.endpoint.IngestEndpoint` answers the same way.

Why we write this: on one worker the request cycle of any ASGI server costs more
than everything the route does (parsing, enrichment, hashing, the log), and
ingestion throughput is the product's hot path. We subclass rather than fork
uvicorn, so keep-alive, timeouts, flow control, graceful shutdown and every other
route stay uvicorn's; the overridden callbacks are the parser's four request hooks.
"""

from __future__ import annotations

import logging

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from pagepulse.ingest.endpoint import (
    INGEST_RAW_PATHS,
    TOO_LARGE,
    Answer,
    IngestEndpoint,
    durable_answer,
)
from pagepulse.ingest.payload import MAX_BODY_BYTES

log = logging.getLogger("pagepulse.ingest")


class _Signal:
    """Stands in for the ASGI cycle's ``message_event``; nothing waits on it here."""

    def set(self) -> None:
        pass


_NO_WAITER = _Signal()


class InlineRequest:
    """A beacon being answered inline: what uvicorn's protocol reads of ``self.cycle``
    (``response_complete``, ``keep_alive``, ``disconnected``, ``message_event``)."""

    __slots__ = (
        "body",
        "disconnected",
        "headers",
        "keep_alive",
        "message_event",
        "response_complete",
        "too_large",
    )  # fmt: skip

    def __init__(self, headers: list[tuple[bytes, bytes]], keep_alive: bool):
        self.headers = headers
        self.body = bytearray()
        self.too_large = False
        self.keep_alive = keep_alive
        self.response_complete = False
        self.disconnected = False
        self.message_event = _NO_WAITER


class IngestHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The app uvicorn loaded: a PagePulseApp carries its ingestion endpoint.
        self.endpoint: IngestEndpoint | None = getattr(self.app, "ingest", None)

    def on_headers_complete(self) -> None:
        if not self._takes_inline():
            super().on_headers_complete()
            return
        keep_alive = self.parser.get_http_version() == "1.1" and self.parser.should_keep_alive()
        self.cycle = InlineRequest(self.headers, keep_alive)  # type: ignore[assignment]

    def _takes_inline(self) -> bool:
        return (
            self.endpoint is not None
            and (self.cycle is None or self.cycle.response_complete)
            and self.parser.get_method() == b"POST"
            and self.url.partition(b"?")[0] in INGEST_RAW_PATHS
            and not self.expect_100_continue
            and not self.parser.should_upgrade()
        )

    def on_body(self, body: bytes) -> None:
        request = self.cycle
        if not isinstance(request, InlineRequest):
            super().on_body(body)
            return
        if not request.too_large:
            request.body += body
            if len(request.body) > MAX_BODY_BYTES:
                request.too_large, request.body = True, bytearray()

    def on_message_complete(self) -> None:
        request = self.cycle
        if not isinstance(request, InlineRequest):
            super().on_message_complete()
            return
        assert self.endpoint is not None
        try:
            if request.too_large:
                outcome = TOO_LARGE
            else:
                peer = self.client[0] if self.client else None
                outcome = self.endpoint.accept(dict(request.headers), bytes(request.body), peer)
        except Exception:
            log.exception("ingestion failed")
            outcome = Answer.failed()
        if isinstance(outcome, Answer):
            self._answer(request, outcome)
        else:
            outcome.add_done_callback(lambda done: self._answer(request, durable_answer(done)))

    def _answer(self, request: InlineRequest, answer: Answer) -> None:
        request.response_complete = True
        if request.disconnected or self.transport.is_closing():
            return
        head = [STATUS_LINE[answer.status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        if not request.keep_alive:
            head.append(b"connection: close\r\n")
        head.append(answer.head)
        self.transport.write(b"".join(head))
        if not request.keep_alive:
            self.transport.close()
        self.on_response_complete()
