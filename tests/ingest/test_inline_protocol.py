"""Beacons answered inside the HTTP protocol (pagepulse.ingest.http), over raw sockets.

What the ASGI route gets for free from uvicorn the inline path must do itself: answer
pipelined requests in order, honour ``Connection: close`` and HTTP/1.0, refuse
oversized and chunked bodies correctly, and hand anything unusual to uvicorn.
"""

from __future__ import annotations

import json
import socket

import pytest

from tests.support.server import Server

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("inline") / "data")
    for domain in ("inline.example", "pipelined.example", "chunked.example"):
        srv.add_site(domain)
    srv.start()
    yield srv
    srv.stop()


def beacon(
    path: str = "/",
    *,
    domain: str = "inline.example",
    version: str = "1.1",
    extra: str = "",
    body: bytes | None = None,
) -> bytes:
    if body is None:
        body = json.dumps({"n": "pageview", "u": f"https://{domain}{path}", "d": domain}).encode()
    head = (
        f"POST /api/event HTTP/{version}\r\nHost: {domain}\r\nUser-Agent: {CHROME}\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


def exchange(server: Server, data: bytes, responses: int, timeout: float = 10.0) -> list[bytes]:
    """Send ``data`` on one connection; read ``responses`` answers (or until closed)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        buffer, answers = b"", []
        while len(answers) < responses:
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    return answers
                buffer += chunk
            head, _, rest = buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            answers.append(head + b"\r\n\r\n" + rest[:length])
            buffer = rest[length:]
        return answers


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def header(answer: bytes, name: bytes) -> bytes | None:
    for line in answer.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def test_one_answer_with_every_header(server):
    [answer] = exchange(server, beacon("/one"), 1)
    assert status(answer) == 202
    assert header(answer, b"access-control-allow-origin") == b"*"
    assert header(answer, b"content-length") == b"2"
    assert header(answer, b"date") is not None
    assert answer.endswith(b"\r\n\r\nok")


def test_pipelined_beacons_and_pages_answer_in_order(server):
    site = server.add_site("pipelined.example")
    health = b"GET /health HTTP/1.1\r\nHost: pipelined.example\r\n\r\n"
    bad = beacon(domain="pipelined.example", body=b"{not json")
    data = b"".join(
        [beacon("/p1", domain="pipelined.example"), beacon("/p2", domain="pipelined.example"),
         health, bad, beacon("/p3", domain="pipelined.example")]
    )  # fmt: skip
    answers = exchange(server, data, 5)
    assert [status(a) for a in answers] == [202, 202, 200, 400, 202]
    assert b'"status"' in answers[2]
    assert b"errors" in answers[3]
    server.wait_for_events(site, 3)
    assert sorted(r[0] for r in server.events(site, "pathname")) == ["/p1", "/p2", "/p3"]


def test_connection_close_and_http_1_0_close_after_the_answer(server):
    for data in (beacon("/close", extra="Connection: close\r\n"), beacon("/old", version="1.0")):
        answers = exchange(server, data + beacon("/never"), 2)
        assert len(answers) == 1
        assert status(answers[0]) == 202
        assert header(answers[0], b"connection") == b"close"


def test_oversized_body_is_refused_and_the_connection_stays_usable(server):
    big = beacon(body=b"x" * (9 * 1024))
    answers = exchange(server, big + beacon("/after-big"), 2)
    assert [status(a) for a in answers] == [413, 202]
    assert b"at most" in answers[0]


def test_chunked_body_is_read_whole(server):
    site = server.add_site("chunked.example")
    body = json.dumps(
        {"n": "pageview", "u": "https://chunked.example/chunked", "d": "chunked.example"}
    ).encode()
    half = len(body) // 2
    chunks = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half,
                                                    body[half:])  # fmt: skip
    data = (
        f"POST /api/event HTTP/1.1\r\nHost: inline.example\r\nUser-Agent: {CHROME}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode() + chunks
    assert status(exchange(server, data, 1)[0]) == 202
    server.wait_for_events(site, 1)
    assert [r[0] for r in server.events(site, "pathname")] == ["/chunked"]


def test_expect_continue_goes_through_uvicorn(server):
    data = beacon("/expect", extra="Expect: 100-continue\r\n")
    answers = exchange(server, data, 2)
    assert status(answers[-1]) == 202


def test_preflight_and_other_methods_keep_their_answers(server):
    options = b"OPTIONS /api/event HTTP/1.1\r\nHost: x\r\nOrigin: https://inline.example\r\n\r\n"
    get = b"GET /api/event HTTP/1.1\r\nHost: x\r\n\r\n"
    answers = exchange(server, options + get, 2)
    assert [status(a) for a in answers] == [204, 405]
    assert header(answers[0], b"access-control-allow-methods") == b"POST, OPTIONS"
