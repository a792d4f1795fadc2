"""Referrer cleaning and source naming for ingest.

What belongs here: turning the Referer the tracker sends (plus the page's
`?ref=`/`?source=`/`?utm_source=` override) into the stored `referrer` and
`source` columns. The site table itself lives in `sources.py`.

`referrer` is "host/path": no scheme, port, query or fragment, "www." and a
trailing "/" stripped. A self-referral (same host as the page, ignoring
"www.") or a non-http(s) referrer gives ("", "").

`source` is the site's display name for known hosts ("Google", "Hacker News"),
otherwise the cleaned host. An override from the page URL wins over the
referrer: a value naming a known site, case-insensitively or by a common alias
("google", "fb", "news.ycombinator.com"), becomes that site's name so
campaign links and organic visits land in the same row; anything else is kept
as sent, trimmed (Plausible does the same for unknown `utm_source` values).
"""

from functools import lru_cache
from urllib.parse import urlsplit

from pagepulse.ingest.enrich.sources import SOURCE_BY_ALIAS, SOURCE_BY_BRAND, SOURCE_BY_HOST

__all__ = ["referrer_source"]

MAX_REFERRER_LENGTH = 2000
MAX_SOURCE_LENGTH = 100
# Second-level labels under a country code: google.co.uk, yandex.com.tr.
COUNTRY_SECOND_LEVELS = frozenset(
    {"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "gob"}
)

SOURCE_BY_NAME_OR_ALIAS: dict[str, str] = {
    **{name.lower(): name for name in SOURCE_BY_HOST.values()},
    **{name.lower(): name for name in SOURCE_BY_BRAND.values()},
    **SOURCE_BY_ALIAS,
}


def referrer_source(referrer: str, page_hostname: str, ref_param: str = "") -> tuple[str, str]:
    """Return (cleaned referrer, source name); cached per distinct argument triple."""
    return _referrer_source(
        referrer[:MAX_REFERRER_LENGTH].strip(),
        page_hostname.lower().removeprefix("www."),
        ref_param.strip()[:MAX_SOURCE_LENGTH],
    )


@lru_cache(maxsize=8192)
def _referrer_source(referrer: str, page_hostname: str, ref_param: str) -> tuple[str, str]:
    cleaned, host = _clean_referrer(referrer)
    if host == page_hostname:
        cleaned, host = "", ""
    if ref_param:
        return cleaned, _source_from_param(ref_param)
    return cleaned, source_for_host(host) if host else ""


def _clean_referrer(referrer: str) -> tuple[str, str]:
    """("host/path", "host") for an http(s) URL, ("", "") otherwise."""
    try:
        parts = urlsplit(referrer)
        host = parts.hostname
    except ValueError:
        return "", ""
    if parts.scheme.lower() not in ("http", "https") or not host:
        return "", ""
    host = host.rstrip(".").removeprefix("www.")
    return f"{host}{parts.path}".rstrip("/"), host


def source_for_host(host: str) -> str:
    """Display name for a lowercase host without "www.": a known site, else the host."""
    labels = host.split(".")
    for start in range(len(labels) - 1):
        name = SOURCE_BY_HOST.get(".".join(labels[start:]))
        if name:
            return name
    return SOURCE_BY_BRAND.get(_registrable_label(labels), host)


def _registrable_label(labels: list[str]) -> str:
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in COUNTRY_SECOND_LEVELS:
        return labels[-3]
    return labels[-2] if len(labels) >= 2 else ""


def _source_from_param(value: str) -> str:
    known = SOURCE_BY_NAME_OR_ALIAS.get(value.lower())
    if known:
        return known
    if "." in value and " " not in value:
        host = value.lower().removeprefix("www.")
        name = source_for_host(host)
        if name != host:
            return name
    return value
