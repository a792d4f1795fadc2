"""parse_user_agent: real UA strings → dashboard names, versions and bot flag."""

import crawleruseragents
import pytest
import user_agents

from pagepulse.ingest.enrich import Client, parse_user_agent
from pagepulse.ingest.enrich.useragent import _ua_parser

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)

BROWSERS = [
    (CHROME_WINDOWS, Client("Chrome", "120", "Windows", "10", False)),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
        Client("Edge", "120", "Windows", "10", False),
    ),
    (
        "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0",
        Client("Firefox", "115", "Windows", "7", False),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
        Client("Opera", "106", "Windows", "10", False),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Safari/605.1.15",
        Client("Safari", "17.2", "macOS", "10.15", False),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
        Client("Firefox", "121", "macOS", "10.15", False),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        Client("Safari", "17.2", "iOS", "17.2", False),
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
        Client("Safari", "16.6", "iOS", "16.6", False),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
        Client("Chrome", "120", "iOS", "17.2", False),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
        Client("Firefox", "121", "iOS", "17.2", False),
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
        Client("Samsung Internet", "23", "Android", "14", False),
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36",
        Client("Chrome", "120", "Android", "10", False),
    ),
    (
        "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
        Client("Firefox", "121", "Android", "14", False),
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        Client("Firefox", "121", "GNU/Linux", "", False),
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        Client("Chrome", "120", "GNU/Linux", "", False),
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        Client("Chrome", "120", "Chrome OS", "14541.0", False),
    ),
]


@pytest.mark.parametrize(("ua", "expected"), BROWSERS, ids=lambda value: str(value)[:60])
def test_browsers_get_dashboard_names(ua: str, expected: Client) -> None:
    assert parse_user_agent(ua) == expected


BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 "
    "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)",
    "curl/8.4.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Wget/1.21.4",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.71 Safari/537.36",
    "",
    "   ",
    "okhttp/4.12.0",
]


@pytest.mark.parametrize("ua", BOTS, ids=lambda value: value[:60] or "empty")
def test_crawlers_tools_and_empty_user_agents_are_bots(ua: str) -> None:
    assert parse_user_agent(ua).is_bot


def test_empty_user_agent_has_no_names() -> None:
    assert parse_user_agent("") == Client("", "", "", "", is_bot=True)


def test_googlebot_keeps_its_name_for_the_bot_report() -> None:
    client = parse_user_agent(BOTS[0])
    assert (client.browser, client.os, client.is_bot) == ("Googlebot", "", True)


def test_overlong_user_agent_is_cut_not_rejected() -> None:
    assert parse_user_agent(CHROME_WINDOWS + " x" * 5000).browser == "Chrome"


def test_result_is_cached_per_string() -> None:
    assert parse_user_agent(CHROME_WINDOWS) is parse_user_agent(CHROME_WINDOWS)


@pytest.mark.parametrize(
    "ua", [ua for ua, _ in BROWSERS] + BOTS, ids=lambda value: value[:60] or "empty"
)
def test_parser_agrees_with_the_user_agents_package(ua: str) -> None:
    """The RE2-backed parser must read UAs exactly as `user-agents` does."""
    reference = user_agents.parse(ua)
    ours = _ua_parser().parse(ua).with_defaults()
    assert ours.user_agent.family == reference.browser.family
    assert ours.os.family == reference.os.family
    assert (ours.device.family == "Spider") == reference.is_bot
    assert ".".join(filter(None, (ours.os.major, ours.os.minor, ours.os.patch))) == (
        reference.os.version_string
    )
    if reference.is_bot:
        assert parse_user_agent(ua).is_bot


def test_every_sample_in_the_crawler_list_is_a_bot() -> None:
    samples = {
        sample
        for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA
        for sample in entry.get("instances", [])
    }
    missed = sorted(sample for sample in samples if not parse_user_agent(sample).is_bot)
    assert len(samples) > 1000
    assert missed == []
