"""The weighted value tables the demo traffic generator draws from.

Only data lives here: platforms (device, OS, browser with versions), countries,
referrers, UTM campaigns, custom events, each site's pathnames, and the daily and weekly
rhythm. Every table is a list of values plus weights; ``generator.py`` turns them into
index arrays. Values are what the ingest path would store: OS versions as user agents
report them (Windows 11 says "10", every macOS says "10.15"), referrers cleaned and named
by the ingest enrichment itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa


@dataclass(frozen=True, slots=True)
class Weighted:
    """Parallel columns of string values and the probability of each row."""

    columns: dict[str, pa.Array]
    probabilities: np.ndarray

    @classmethod
    def of(cls, names: tuple[str, ...], rows: list[tuple]) -> Weighted:
        weights = np.array([row[-1] for row in rows], dtype=np.float64)
        columns = {
            name: pa.array([row[i] for row in rows], pa.string()) for i, name in enumerate(names)
        }
        return cls(columns, weights / weights.sum())

    def __len__(self) -> int:
        return len(self.probabilities)


# (device, OS, {OS version: weight}, {browser: weight}, weight of the device + OS pair).
_PLATFORMS = [
    ("mobile", "iOS", {"17.5": 3, "18.1": 5, "16.7": 1}, {"Safari": 8, "Chrome": 2}, 20),
    (
        "mobile",
        "Android",
        {"14": 5, "13": 3, "12": 1},
        {"Chrome": 7, "Samsung Internet": 2, "Firefox": 1},
        24,
    ),
    ("tablet", "iOS", {"17.5": 2, "18.1": 3}, {"Safari": 9, "Chrome": 1}, 5),
    ("tablet", "Android", {"14": 1, "13": 1}, {"Chrome": 1}, 2),
    ("laptop", "Windows", {"10": 1}, {"Chrome": 6, "Edge": 3, "Firefox": 1}, 14),
    ("laptop", "macOS", {"10.15": 1}, {"Safari": 4, "Chrome": 5, "Firefox": 1}, 10),
    ("laptop", "Linux", {"": 1}, {"Firefox": 5, "Chrome": 5}, 2),
    ("laptop", "Chrome OS", {"": 1}, {"Chrome": 1}, 1),
    ("desktop", "Windows", {"10": 1}, {"Chrome": 6, "Edge": 2, "Firefox": 2}, 12),
    ("desktop", "macOS", {"10.15": 1}, {"Safari": 3, "Chrome": 6, "Firefox": 1}, 6),
    ("desktop", "Linux", {"": 1}, {"Firefox": 6, "Chrome": 4}, 4),
]

_BROWSER_VERSIONS = {
    "Chrome": {"131": 6, "130": 3, "129": 1},
    "Safari": {"18.1": 5, "17.5": 4, "16.6": 1},
    "Firefox": {"133": 5, "132": 3, "128": 2},
    "Edge": {"131": 7, "130": 3},
    "Samsung Internet": {"26.0": 3, "25.0": 1},
}


def _share(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {key: value / total for key, value in weights.items()}


def _platform_rows() -> list[tuple]:
    # The joint table of every (device, os, version, browser, version): one draw per visitor
    # gives a consistent combination without conditional sampling.
    rows = []
    for device, os_name, os_versions, browsers, weight in _PLATFORMS:
        for os_version, os_share in _share(os_versions).items():
            for browser, browser_share in _share(browsers).items():
                for version, version_share in _share(_BROWSER_VERSIONS[browser]).items():
                    share = weight * os_share * browser_share * version_share
                    rows.append((device, os_name, os_version, browser, version, share))
    return rows


PLATFORMS = Weighted.of(
    ("device", "os", "os_version", "browser", "browser_version"), _platform_rows()
)

# Common viewport widths per device bucket:
# mobile < 576 <= tablet < 992 <= laptop < 1440 <= desktop.
SCREEN_WIDTHS = {
    "mobile": (np.array([360, 375, 390, 393, 412, 414, 430]), np.array([3, 2, 4, 3, 4, 2, 2])),
    "tablet": (np.array([768, 810, 820, 834, 800]), np.array([5, 2, 2, 2, 1])),
    "laptop": (np.array([1280, 1366, 1280, 1024, 1350]), np.array([4, 5, 2, 1, 1])),
    "desktop": (np.array([1440, 1536, 1680, 1920, 2560]), np.array([3, 4, 1, 6, 2])),
}

COUNTRIES = Weighted.of(
    ("country",),
    [
        ("US", 26),
        ("DE", 8),
        ("GB", 7),
        ("IN", 7),
        ("FR", 5),
        ("CA", 4),
        ("NL", 3),
        ("BR", 3),
        ("JP", 3),
        ("AU", 3),
        ("ES", 2.5),
        ("IT", 2.5),
        ("PL", 2),
        ("SE", 2),
        ("CH", 1.5),
        ("AT", 1.2),
        ("BE", 1.2),
        ("DK", 1),
        ("NO", 1),
        ("FI", 0.8),
        ("IE", 0.8),
        ("PT", 0.8),
        ("CZ", 0.8),
        ("UA", 0.8),
        ("TR", 0.8),
        ("MX", 1),
        ("AR", 0.6),
        ("KR", 1),
        ("SG", 0.8),
        ("ID", 0.8),
        ("ZA", 0.6),
        ("NZ", 0.5),
        ("CN", 0.5),
        ("", 1.5),
    ],
)

# A site's own country gets a large extra share of its visitors.
HOME_COUNTRY = {
    "UTC": "GB",
    "Europe/London": "GB",
    "Europe/Berlin": "DE",
    "Europe/Paris": "FR",
    "Europe/Madrid": "ES",
    "America/New_York": "US",
    "America/Chicago": "US",
    "America/Los_Angeles": "US",
    "America/Sao_Paulo": "BR",
    "Asia/Tokyo": "JP",
    "Asia/Kolkata": "IN",
    "Asia/Singapore": "SG",
    "Australia/Sydney": "AU",
    "Pacific/Auckland": "NZ",
}
HOME_COUNTRY_SHARE = 0.35

# The Referer header as browsers send it; row 0 is direct traffic. The stored
# ``referrer`` and ``referrer_source`` come from the ingest enrichment (see generator).
REFERRER_URLS = (
    ("", 40),
    ("https://www.google.com/", 26),
    ("https://www.bing.com/", 4),
    ("https://duckduckgo.com/", 3),
    ("https://t.co/", 3.5),
    ("https://www.reddit.com/r/programming/", 2),
    ("https://www.reddit.com/r/webdev/", 1.5),
    ("https://news.ycombinator.com/", 3),
    ("https://github.com/", 3),
    ("https://www.linkedin.com/", 1.5),
    ("https://l.facebook.com/", 1.5),
    ("https://search.brave.com/", 0.8),
    ("https://www.ecosia.org/", 0.5),
    ("https://lobste.rs/", 0.7),
    ("https://dev.to/", 1),
    ("https://stackoverflow.com/", 1),
    ("https://pycoders.com/", 0.6),
    ("https://buttondown.email/", 0.8),
    ("https://newsletter.example.org/", 0.6),
    ("https://blog.example.net/", 0.5),
)
NEWSLETTER_REFERRERS = (
    "https://pycoders.com/",
    "https://buttondown.email/",
    "https://newsletter.example.org/",
)

UTM_COLUMNS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
# Row 0: no UTM tags. The weights of the other rows are relative to each other only: the
# generator decides separately whether an entry pageview is tagged.
UTM_TAGS = Weighted.of(
    UTM_COLUMNS,
    [
        ("", "", "", "", "", 0),
        ("newsletter", "email", "weekly-digest", "", "", 8),
        ("newsletter", "email", "launch-week", "header-link", "", 3),
        ("twitter", "social", "launch-week", "", "", 3),
        ("google", "cpc", "brand", "ad-a", "analytics tool", 3),
        ("google", "cpc", "brand", "ad-b", "privacy analytics", 2),
        ("google", "cpc", "competitor", "ad-a", "google analytics alternative", 2),
        ("bing", "cpc", "brand", "", "web analytics", 1),
        ("reddit", "social", "spring-promo", "", "", 1.5),
        ("partner", "referral", "affiliate", "partner-42", "", 1.5),
        ("producthunt", "referral", "launch", "", "", 1),
    ],
)
UTM_NEWSLETTER_ROW = 1
UTM_TAGGED_SHARE = 0.12

# (name, props, weight). Row 0 is the pageview; custom events are drawn from the rest.
EVENTS: list[tuple[str, dict[str, str], float]] = [
    ("pageview", {}, 0),
    ("Signup", {"plan": "free"}, 5),
    ("Signup", {"plan": "pro"}, 2),
    ("Signup", {"plan": "business"}, 0.5),
    ("Download", {"file": "whitepaper.pdf"}, 2),
    ("Download", {"file": "pagepulse-cli.tar.gz", "version": "1.4"}, 1),
    ("Outbound Link: Click", {"url": "https://github.com/pagepulse"}, 3),
    ("Newsletter", {}, 1.5),
    ("Purchase", {"plan": "pro", "period": "yearly"}, 0.6),
    ("404", {"path": "/old-page"}, 1),
]
CUSTOM_EVENT_VISIT_SHARE = 0.06

# Relative traffic per local hour (0..23) and per weekday (Monday first).
HOURLY_WEIGHTS = np.array(
    [
        2,
        1.3,
        0.9,
        0.7,
        0.6,
        0.8,
        1.6,
        3,
        4.6,
        5.6,
        6,
        6.1,
        5.8,
        6,
        6,
        5.8,
        5.4,
        5,
        4.8,
        5,
        5.2,
        4.8,
        3.8,
        2.8,
    ]
)
HOURLY_WEIGHTS = HOURLY_WEIGHTS / HOURLY_WEIGHTS.sum()
WEEKDAY_FACTORS = np.array([1.08, 1.12, 1.1, 1.06, 0.98, 0.82, 0.84])
WEEKDAY_FACTORS = WEEKDAY_FACTORS / WEEKDAY_FACTORS.mean()

_TOP_PAGES = [
    "/",
    "/pricing",
    "/features",
    "/blog",
    "/docs",
    "/about",
    "/signup",
    "/login",
    "/contact",
    "/changelog",
    "/integrations",
    "/privacy",
    "/terms",
    "/careers",
]
_WORDS = [
    "privacy",
    "analytics",
    "cookies",
    "gdpr",
    "python",
    "duckdb",
    "parquet",
    "dashboard",
    "tracking",
    "launch",
    "speed",
    "self-hosting",
    "metrics",
    "funnels",
    "goals",
    "pricing",
    "open-source",
    "migration",
    "google-analytics",
    "retention",
    "sessions",
    "campaigns",
]
_DOC_SECTIONS = ["getting-started", "tracker", "api", "self-hosting", "integrations", "faq"]
_DOC_PAGES = [
    "overview",
    "install",
    "configuration",
    "custom-events",
    "proxy",
    "spa",
    "hash-routing",
    "exports",
    "sites",
    "sharing",
    "limits",
    "upgrading",
    "troubleshooting",
    "wordpress",
    "nextjs",
    "hugo",
]


@cache
def site_paths(site_id: int) -> tuple[pa.Array, np.ndarray]:
    """A site's few hundred pathnames and their Zipf probabilities (the home page first)."""
    rng = random.Random(site_id)
    blog = {
        "/blog/" + "-".join(rng.sample(_WORDS, rng.randint(2, 4)))
        for _ in range(rng.randint(120, 200))
    }
    docs = {f"/docs/{section}/{page}" for section in _DOC_SECTIONS for page in _DOC_PAGES}
    rest = sorted(blog | docs)
    rng.shuffle(rest)
    paths = _TOP_PAGES[:1] + rng.sample(_TOP_PAGES[1:], len(_TOP_PAGES) - 1) + rest
    ranks = np.arange(1, len(paths) + 1, dtype=np.float64)
    weights = ranks**-1.1
    return pa.array(paths, pa.string()), weights / weights.sum()
