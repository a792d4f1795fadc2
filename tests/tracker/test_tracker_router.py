"""Serving the built tracker: /js/script.js and /js/p.js through the real router."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pagepulse.ingest import tracker
from pagepulse.ingest.tracker import accepts_gzip, etag_matches, router, tracker_size_gzip

PATHS = ["/js/script.js", "/js/p.js"]
PLAIN = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip, deflate, br"}


@pytest.fixture
def client(built_script: Path) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize("path", PATHS)
def test_serves_the_built_script(client: TestClient, built_script: Path, path: str) -> None:
    response = client.get(path, headers=PLAIN)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["vary"] == "Accept-Encoding"
    assert "content-encoding" not in response.headers
    assert response.content == built_script.read_bytes()


@pytest.mark.parametrize("path", PATHS)
def test_gzip_when_the_client_accepts_it(client: TestClient, built_script: Path, path: str) -> None:
    response = client.get(path, headers=GZIP)

    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) == tracker_size_gzip()
    assert response.content == built_script.read_bytes()  # httpx decoded it


def test_gzip_size_is_the_gzip_9_size(built_script: Path) -> None:
    expected = len(gzip.compress(built_script.read_bytes(), compresslevel=9, mtime=0))
    assert tracker_size_gzip() == expected


def test_strong_etag_per_encoding_and_304(client: TestClient) -> None:
    plain_etag = client.get("/js/script.js", headers=PLAIN).headers["etag"]
    gzip_etag = client.get("/js/script.js", headers=GZIP).headers["etag"]
    assert plain_etag.startswith('"') and plain_etag.endswith('"')
    assert plain_etag != gzip_etag

    not_modified = client.get("/js/p.js", headers={**GZIP, "If-None-Match": gzip_etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == gzip_etag
    assert not_modified.headers["cache-control"] == "public, max-age=3600"

    listed = client.get("/js/script.js", headers={**PLAIN, "If-None-Match": f'"x", {plain_etag}'})
    assert listed.status_code == 304

    # The gzip ETag does not validate the plain bytes.
    other = client.get("/js/script.js", headers={**PLAIN, "If-None-Match": gzip_etag})
    assert other.status_code == 200


def test_head_answers_headers_only(client: TestClient) -> None:
    response = client.head("/js/script.js", headers=PLAIN)

    assert response.status_code == 200
    assert response.headers["etag"]
    assert response.content == b""


@pytest.mark.parametrize(
    "accept_encoding, expected",
    [
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("*", True),
        ("", False),
        ("identity", False),
        ("gzip;q=0", False),
        ("*;q=0.1, gzip;q=0", False),
        ("br;q=1.0, gzip;q=0.8", True),
    ],
)
def test_accepts_gzip(accept_encoding: str, expected: bool) -> None:
    assert accepts_gzip(accept_encoding) is expected


@pytest.mark.parametrize(
    "if_none_match, expected",
    [('"abc"', True), ('W/"abc"', True), ('"x", "abc"', True), ("*", True), ('"abcd"', False)],
)
def test_etag_matches(if_none_match: str, expected: bool) -> None:
    assert etag_matches(if_none_match, '"abc"') is expected


def test_missing_build_names_make_assets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tracker, "BUILT_SCRIPT", tmp_path / "dist" / "script.js")
    tracker.built_tracker.cache_clear()
    try:
        with pytest.raises(tracker.TrackerNotBuiltError, match="make assets"):
            tracker_size_gzip()
    finally:
        monkeypatch.undo()
        tracker.built_tracker.cache_clear()
