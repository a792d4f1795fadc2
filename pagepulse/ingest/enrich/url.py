"""Page URL parsing for ingest: hostname, pathname, UTM tags and the source override.

What belongs here: splitting the page URL the tracker sends into the stored
columns. The pathname is kept as sent (no percent-decoding), without query
and fragment, except in hash mode where the fragment is part of the page
("/#/about"), as in Plausible.
"""

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

__all__ = ["PageUrl", "parse_page_url"]

MAX_URL_LENGTH = 4096
MAX_PATHNAME_LENGTH = 2000
MAX_TAG_LENGTH = 200
# Plausible's precedence for the query value that overrides the referrer source.
SOURCE_OVERRIDE_PARAMS = ("ref", "source", "utm_source")


@dataclass(frozen=True, slots=True)
class PageUrl:
    hostname: str
    pathname: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_content: str
    utm_term: str
    ref: str


def parse_page_url(url: str, hash_mode: bool = False) -> PageUrl | None:
    """Split a page URL; None unless it is http(s) with a host. Cached per (url, hash_mode)."""
    return _parse_page_url(url[:MAX_URL_LENGTH].strip(), hash_mode)


@lru_cache(maxsize=8192)
def _parse_page_url(url: str, hash_mode: bool) -> PageUrl | None:
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        return None
    pathname = parts.path or "/"
    if hash_mode and parts.fragment:
        pathname = f"{pathname}#{parts.fragment}"
    query = parse_qs(parts.query) if parts.query else {}
    return PageUrl(
        hostname=hostname.rstrip(".").removeprefix("www."),
        pathname=pathname[:MAX_PATHNAME_LENGTH],
        utm_source=_first(query, "utm_source"),
        utm_medium=_first(query, "utm_medium"),
        utm_campaign=_first(query, "utm_campaign"),
        utm_content=_first(query, "utm_content"),
        utm_term=_first(query, "utm_term"),
        ref=next(filter(None, (_first(query, name) for name in SOURCE_OVERRIDE_PARAMS)), ""),
    )


def _first(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[0].strip()[:MAX_TAG_LENGTH] if values else ""
