"""referrer_source: cleaned referrer, site names, self-referrals, ?ref= overrides."""

import pytest

from pagepulse.ingest.enrich import referrer_source

PAGE_HOST = "example.com"


@pytest.mark.parametrize(
    ("referrer", "expected"),
    [
        ("https://www.google.com/", ("google.com", "Google")),
        ("https://www.google.co.uk/search?q=pagepulse", ("google.co.uk/search", "Google")),
        ("https://www.google.de/", ("google.de", "Google")),
        ("https://www.google.com.br/", ("google.com.br", "Google")),
        ("https://www.bing.com/search?q=x&form=QBLH", ("bing.com/search", "Bing")),
        ("https://cn.bing.com/", ("cn.bing.com", "Bing")),
        ("https://duckduckgo.com/", ("duckduckgo.com", "DuckDuckGo")),
        ("https://de.search.yahoo.com/search", ("de.search.yahoo.com/search", "Yahoo!")),
        ("https://yandex.ru/search/?text=x", ("yandex.ru/search", "Yandex")),
        ("https://yandex.com.tr/", ("yandex.com.tr", "Yandex")),
        ("https://www.baidu.com/link?url=x", ("baidu.com/link", "Baidu")),
        ("https://www.ecosia.org/search?q=x", ("ecosia.org/search", "Ecosia")),
        ("https://search.brave.com/search?q=x", ("search.brave.com/search", "Brave")),
        ("https://www.startpage.com/", ("startpage.com", "Startpage")),
        ("https://www.qwant.com/", ("qwant.com", "Qwant")),
        (
            "https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com",
            ("l.facebook.com/l.php", "Facebook"),
        ),
        ("https://m.facebook.com/", ("m.facebook.com", "Facebook")),
        ("https://l.instagram.com/", ("l.instagram.com", "Instagram")),
        ("https://t.co/AbCdEf123", ("t.co/AbCdEf123", "Twitter")),
        ("https://x.com/someone/status/1", ("x.com/someone/status/1", "Twitter")),
        ("https://twitter.com/", ("twitter.com", "Twitter")),
        ("https://www.linkedin.com/feed/", ("linkedin.com/feed", "LinkedIn")),
        ("https://lnkd.in/abc", ("lnkd.in/abc", "LinkedIn")),
        (
            "https://old.reddit.com/r/python/comments/1/",
            ("old.reddit.com/r/python/comments/1", "Reddit"),
        ),
        ("https://www.youtube.com/watch?v=x", ("youtube.com/watch", "YouTube")),
        ("https://youtu.be/x", ("youtu.be/x", "YouTube")),
        ("https://www.pinterest.fr/pin/1/", ("pinterest.fr/pin/1", "Pinterest")),
        ("https://github.com/owner/repo", ("github.com/owner/repo", "GitHub")),
        ("https://news.ycombinator.com/item?id=1", ("news.ycombinator.com/item", "Hacker News")),
        (
            "https://en.m.wikipedia.org/wiki/Web_analytics",
            ("en.m.wikipedia.org/wiki/Web_analytics", "Wikipedia"),
        ),
        ("https://www.producthunt.com/posts/x", ("producthunt.com/posts/x", "Product Hunt")),
        (
            "https://stackoverflow.com/questions/1",
            ("stackoverflow.com/questions/1", "Stack Overflow"),
        ),
        ("https://medium.com/@someone/post", ("medium.com/@someone/post", "Medium")),
        ("https://writer.substack.com/p/post", ("writer.substack.com/p/post", "Substack")),
        ("https://dev.to/someone/post", ("dev.to/someone/post", "Dev.to")),
        ("https://lobste.rs/s/abc", ("lobste.rs/s/abc", "Lobsters")),
        ("https://web.telegram.org/", ("web.telegram.org", "Telegram")),
        ("https://app.slack.com/client/T1", ("app.slack.com/client/T1", "Slack")),
        ("https://discord.com/channels/1", ("discord.com/channels/1", "Discord")),
        ("https://mastodon.social/@someone", ("mastodon.social/@someone", "Mastodon")),
        ("https://chatgpt.com/", ("chatgpt.com", "ChatGPT")),
        ("https://chat.openai.com/c/1", ("chat.openai.com/c/1", "ChatGPT")),
        ("https://www.perplexity.ai/search/x", ("perplexity.ai/search/x", "Perplexity")),
        ("https://claude.ai/chat/1", ("claude.ai/chat/1", "Claude")),
        ("https://gemini.google.com/app", ("gemini.google.com/app", "Gemini")),
        ("https://mail.google.com/mail/u/0/", ("mail.google.com/mail/u/0", "Gmail")),
        ("https://bsky.app/profile/x", ("bsky.app/profile/x", "Bluesky")),
        ("https://www.threads.net/@x", ("threads.net/@x", "Threads")),
        ("https://www.tiktok.com/", ("tiktok.com", "TikTok")),
        # Unknown sites: the cleaned host is the source.
        (
            "https://blog.someone.org/post/1/?utm_x=1#comments",
            ("blog.someone.org/post/1", "blog.someone.org"),
        ),
        ("http://WWW.Partner-Site.NET:8080/Links", ("partner-site.net/Links", "partner-site.net")),
        ("https://google.evil.com/", ("google.evil.com", "google.evil.com")),
        ("http://localhost:3000/x", ("localhost/x", "localhost")),
    ],
)
def test_known_and_unknown_referrers(referrer: str, expected: tuple[str, str]) -> None:
    assert referrer_source(referrer, PAGE_HOST) == expected


@pytest.mark.parametrize(
    ("referrer", "page_hostname"),
    [
        ("https://example.com/other-page", "example.com"),
        ("https://www.example.com/other-page?x=1", "example.com"),
        ("https://example.com/", "www.example.com"),
        ("https://EXAMPLE.com/", "example.com"),
        ("", "example.com"),
        ("android-app://com.google.android.gm/", "example.com"),
        ("about:blank", "example.com"),
        ("not a url", "example.com"),
        ("http://[::1", "example.com"),
    ],
)
def test_self_referrals_and_non_http_referrers_are_empty(referrer: str, page_hostname: str) -> None:
    assert referrer_source(referrer, page_hostname) == ("", "")


def test_subdomain_of_the_site_is_not_a_self_referral() -> None:
    assert referrer_source("https://docs.example.com/start", PAGE_HOST) == (
        "docs.example.com/start",
        "docs.example.com",
    )


@pytest.mark.parametrize(
    ("referrer", "ref_param", "expected"),
    [
        ("https://github.com/owner/repo", "newsletter", ("github.com/owner/repo", "newsletter")),
        ("", "  Spring Newsletter ", ("", "Spring Newsletter")),
        ("", "google", ("", "Google")),
        ("", "HackerNews", ("", "Hacker News")),
        ("", "fb", ("", "Facebook")),
        ("", "news.ycombinator.com", ("", "Hacker News")),
        ("", "www.reddit.com", ("", "Reddit")),
        ("", "partner.io", ("", "partner.io")),
        ("https://example.com/self", "twitter", ("", "Twitter")),
        ("https://t.co/x", "", ("t.co/x", "Twitter")),
    ],
)
def test_ref_param_wins_as_the_source(
    referrer: str, ref_param: str, expected: tuple[str, str]
) -> None:
    assert referrer_source(referrer, PAGE_HOST, ref_param) == expected


def test_long_ref_param_is_capped() -> None:
    _, source = referrer_source("", PAGE_HOST, "s" * 1000)
    assert source == "s" * 100
