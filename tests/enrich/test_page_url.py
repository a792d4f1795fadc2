"""parse_page_url: hostname, pathname, UTM tags, source override, hash mode."""

import pytest

from pagepulse.ingest.enrich import PageUrl, parse_page_url


def page(hostname: str, pathname: str, **tags: str) -> PageUrl:
    fields = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "ref")
    return PageUrl(hostname, pathname, *(tags.get(name, "") for name in fields))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com", page("example.com", "/")),
        ("https://WWW.Example.COM/Blog/Post/", page("example.com", "/Blog/Post/")),
        ("http://example.com:8080/a#section", page("example.com", "/a")),
        ("https://example.com/caf%C3%A9?x=1", page("example.com", "/caf%C3%A9")),
        ("https://shop.example.com./cart", page("shop.example.com", "/cart")),
        (
            "https://example.com/pricing?utm_source=newsletter&utm_medium=email"
            "&utm_campaign=spring%20sale&utm_content=hero&utm_term=analytics",
            page(
                "example.com",
                "/pricing",
                utm_source="newsletter",
                utm_medium="email",
                utm_campaign="spring sale",
                utm_content="hero",
                utm_term="analytics",
                ref="newsletter",
            ),
        ),
        (
            "https://example.com/?utm_source=first&utm_source=second",
            page("example.com", "/", utm_source="first", ref="first"),
        ),
        (
            "https://example.com/?utm_source=twitter&source=hn&ref=producthunt",
            page("example.com", "/", utm_source="twitter", ref="producthunt"),
        ),
        (
            "https://example.com/?source=hn&utm_source=x",
            page("example.com", "/", utm_source="x", ref="hn"),
        ),
        ("https://example.com/?ref=&source=+blog+", page("example.com", "/", ref="blog")),
    ],
)
def test_parse_page_url(url: str, expected: PageUrl) -> None:
    assert parse_page_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected_pathname"),
    [
        ("https://example.com/#/about", "/#/about"),
        ("https://example.com/app#/settings/profile?tab=2", "/app#/settings/profile?tab=2"),
        ("https://example.com/app?utm_source=x#/home", "/app#/home"),
        ("https://example.com/plain", "/plain"),
    ],
)
def test_hash_mode_keeps_the_fragment_in_the_pathname(url: str, expected_pathname: str) -> None:
    parsed = parse_page_url(url, hash_mode=True)
    assert parsed is not None
    assert parsed.pathname == expected_pathname


@pytest.mark.parametrize(
    "url",
    [
        "",
        "example.com/page",
        "/relative/path",
        "ftp://example.com/file",
        "https:///nohost",
        "http://[::1",
        "javascript:alert(1)",
        "file:///etc/passwd",
    ],
)
def test_non_http_urls_and_missing_hosts_give_none(url: str) -> None:
    assert parse_page_url(url) is None


def test_long_tags_and_paths_are_truncated() -> None:
    parsed = parse_page_url(f"https://example.com/{'p' * 3000}?utm_campaign={'c' * 500}")
    assert parsed is not None
    assert len(parsed.pathname) == 2000
    assert parsed.utm_campaign == "c" * 200
