"""Enrichment at ingest: everything derived from a raw event before it is written.

What belongs here: pure, cached, per-event functions on the ingest hot path
(≥ 10,000 events/s on one core): user agent → `Client`, screen width → device
class, page URL → `PageUrl`, referrer → (referrer, source), IP → country.
Raw IPs and user agents go in and never come out, nor are they logged.
"""

from pagepulse.ingest.enrich.device import device_class
from pagepulse.ingest.enrich.geo import CountryLookup
from pagepulse.ingest.enrich.referrer import referrer_source
from pagepulse.ingest.enrich.url import PageUrl, parse_page_url
from pagepulse.ingest.enrich.useragent import Client, parse_user_agent

__all__ = [
    "Client",
    "CountryLookup",
    "PageUrl",
    "device_class",
    "parse_page_url",
    "parse_user_agent",
    "referrer_source",
]
