"""A micro-check of the cached hot path: prints events/s, asserts only the results.

Run with `-s` to see the numbers. Speed is not asserted: shared CI machines
are too noisy for a timing threshold to mean anything.
"""

import time

from pagepulse.ingest.enrich import (
    CountryLookup,
    device_class,
    parse_page_url,
    parse_user_agent,
    referrer_source,
)

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
]
PAGES = [
    f"https://example.com/blog/post-{number}" + ("?utm_source=newsletter" if number % 2 else "")
    for number in range(50)
]
REFERRERS = ["https://www.google.com/", "https://news.ycombinator.com/item?id=1", ""]
ADDRESSES = ["81.2.69.142", "8.8.8.8", "2001:4860:4860::8888"]


def enrich_one(number: int, countries: CountryLookup) -> tuple[str, ...]:
    client = parse_user_agent(USER_AGENTS[number % len(USER_AGENTS)])
    page = parse_page_url(PAGES[number % len(PAGES)])
    assert page is not None
    referrer, source = referrer_source(REFERRERS[number % len(REFERRERS)], page.hostname, page.ref)
    return (
        client.browser,
        client.os,
        device_class(360 + number % 2000),
        page.pathname,
        referrer,
        source,
        countries.country(ADDRESSES[number % len(ADDRESSES)]),
    )


def test_cached_enrichment_throughput() -> None:
    countries = CountryLookup()
    events = 50_000
    started = time.perf_counter()
    rows = [enrich_one(number, countries) for number in range(events)]
    elapsed = time.perf_counter() - started
    print(f"\nenrich (warm caches): {events / elapsed:,.0f} events/s")

    assert rows[0] == ("Chrome", "Windows", "mobile", "/blog/post-0", "google.com", "Google", "GB")
    assert rows[1] == (
        "Safari",
        "iOS",
        "mobile",
        "/blog/post-1",
        "news.ycombinator.com/item",
        "newsletter",
        "US",
    )


def test_uncached_user_agent_throughput() -> None:
    distinct = 300
    started = time.perf_counter()
    clients = [parse_user_agent(f"{USER_AGENTS[0]} build/{number}") for number in range(distinct)]
    elapsed = time.perf_counter() - started
    print(f"\nparse_user_agent (cache misses): {distinct / elapsed:,.0f} UAs/s")
    assert {client.browser for client in clients} == {"Chrome"}
