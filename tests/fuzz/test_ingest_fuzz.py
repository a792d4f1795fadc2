"""Fuzzing ``POST /api/event`` over real HTTP with hypothesis.

Random JSON, beacon-shaped objects with wrong types, huge fields, odd encodings,
bodies around the 8 KiB limit and random headers. Every answer must be a 202 or a
4xx whose body is JSON with a list of error messages; never a 5xx. Events stored
before the run (for another site) are all still in the lake afterwards, and the
server logged no traceback.

``PAGEPULSE_INGEST_FUZZ_EXAMPLES`` sets the number of requests (default 1,000, about
15 s).
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagepulse.ingest.payload import MAX_BODY_BYTES
from tests.support.budget import count
from tests.support.server import Server

EXAMPLES = count("PAGEPULSE_INGEST_FUZZ_EXAMPLES", 1000)
FUZZ_SITE, KEPT_SITE = "fuzz.example", "kept.example"
KEPT_EVENTS = 25
CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)

BEACON_KEYS = (
    *("n", "name", "u", "url", "d", "domain", "r", "referrer", "w", "screen_width"),
    *("p", "m", "props", "meta", "h", "hashMode", "hash_mode", "i", "interactive"),
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=60)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5)
    ),
    max_leaves=20,
)
huge_text = st.integers(min_value=100, max_value=9000).map(lambda n: "x" * n)
urls = st.one_of(
    st.just(f"https://{FUZZ_SITE}/"),
    st.builds(lambda path: f"https://{FUZZ_SITE}/{path}", st.text(max_size=80)),
    st.builds(
        lambda q: f"https://{FUZZ_SITE}/?utm_source={q}&utm_campaign={q}&ref={q}",
        st.text(max_size=40),
    ),
    st.text(max_size=80),
    st.sampled_from(["javascript:alert(1)", "ftp://x/", "https://", "https://[::1/", "//x"]),
    huge_text,
)
field_values = st.one_of(json_values, huge_text, urls)


@st.composite
def beacon_objects(draw) -> dict:
    """A mostly well-formed beacon with some fields missing, wrong or huge."""
    body = {"n": "pageview", "u": f"https://{FUZZ_SITE}/", "d": FUZZ_SITE}
    if draw(st.booleans()):
        body["u"] = draw(urls)
    for key in draw(st.lists(st.sampled_from(BEACON_KEYS), max_size=4, unique=True)):
        body[key] = draw(field_values)
    if draw(st.booleans()):
        props = draw(st.dictionaries(st.text(max_size=300), json_values, max_size=35))
        body[draw(st.sampled_from(["p", "m", "props"]))] = (
            json.dumps(props) if draw(st.booleans()) else props
        )
    return body


def padded_near_limit(body: dict, delta: int) -> bytes:
    """The body padded (in props, each within its limit) to MAX_BODY_BYTES + delta bytes."""
    keys = [f"pad{i}" for i in range(5)]
    raw = json.dumps({**body, "p": dict.fromkeys(keys, "")}).encode()
    pad = max(0, MAX_BODY_BYTES + delta - len(raw))
    sizes = [pad // len(keys) + (1 if i < pad % len(keys) else 0) for i in range(len(keys))]
    return json.dumps(
        {**body, "p": {k: "a" * n for k, n in zip(keys, sizes, strict=True)}}
    ).encode()


@st.composite
def bodies(draw) -> bytes:
    kind = draw(st.sampled_from(["json", "beacon", "near_limit", "bytes", "encoding"]))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    beacon = draw(beacon_objects())
    if kind == "beacon":
        return json.dumps(beacon).encode()
    if kind == "near_limit":
        return padded_near_limit(beacon, draw(st.integers(min_value=-64, max_value=64)))
    if kind == "bytes":
        return draw(st.binary(max_size=2000))
    text = json.dumps(beacon, ensure_ascii=False)
    encoding = draw(st.sampled_from(["utf-16", "utf-32", "latin-1", "utf-8-sig", "cp1252"]))
    raw = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        raw = raw.replace(b"pageview", b"page\xffview")  # invalid UTF-8 inside a string
    return raw


header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=300,
).map(str.strip)
header_names = st.sampled_from(
    [
        "user-agent",
        "content-type",
        "x-forwarded-for",
        "forwarded",
        "x-real-ip",
        "origin",
        "referer",
        "cookie",
        "accept-encoding",
        "content-encoding",
        "x-pagepulse-dropped",
    ]
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("fuzz-ingest") / "data")
    srv.add_site(FUZZ_SITE)
    kept = srv.add_site(KEPT_SITE)
    srv.start()
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as client:
            for index in range(KEPT_EVENTS):
                body = {"n": "pageview", "u": f"https://{KEPT_SITE}/{index}", "d": KEPT_SITE}
                response = client.post("/api/event", json=body, headers={"user-agent": CHROME_UA})
                assert response.status_code == 202
        assert len(srv.wait_for_events(kept, KEPT_EVENTS)) == KEPT_EVENTS
        yield srv, kept
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server[0].url, timeout=10) as http:
        yield http


def check_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code == 202:
        assert response.text == "ok"
        return
    assert 400 <= response.status_code < 500, response.status_code
    assert response.headers["content-type"] == "application/json"
    errors = response.json()["errors"]
    assert errors and all(isinstance(e, str) and e for e in errors), errors


def check_the_limit(client: httpx.Client) -> None:
    """The fuzzing is random; the 8 KiB boundary itself is checked exactly."""
    beacon = {"n": "pageview", "u": f"https://{FUZZ_SITE}/limit", "d": FUZZ_SITE}
    for delta, status in ((-1, 202), (0, 202), (1, 413)):
        body = padded_near_limit(beacon, delta)
        assert len(body) == MAX_BODY_BYTES + delta
        response = client.post("/api/event", content=body, headers={"user-agent": CHROME_UA})
        check_answer(response)
        assert response.status_code == status, (delta, response.text)


def test_ingest_never_fails_with_5xx_and_loses_nothing(server, client) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        body=bodies(),
        headers=st.dictionaries(header_names, header_text, max_size=4),
        path=st.sampled_from(["/api/event", "/api/v1/event"]),
    )
    def property_(body: bytes, headers: dict, path: str) -> None:
        sent = {"user-agent": CHROME_UA, **{k: v.encode("latin-1") for k, v in headers.items()}}
        check_answer(client.post(path, content=body, headers=sent))

    check_the_limit(client)
    property_()
    # The events stored before the fuzzing are all still there, the server is up and
    # logged no traceback.
    srv, kept = server
    client.get("/health").raise_for_status()
    time.sleep(1.0)  # a flush or two after the last request
    rows = srv.events(kept, "pathname")
    assert sorted(r[0] for r in rows) == sorted(f"/{i}" for i in range(KEPT_EVENTS))
    assert "Traceback" not in srv.logs()
