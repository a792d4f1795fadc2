import ipaddress

from pagepulse.ingest.ratelimit import RateLimiter
from pagepulse.net import client_ip

PROXY = (ipaddress.ip_network("10.0.0.0/8"),)


def test_forwarded_for_only_from_trusted_proxies():
    assert client_ip("198.51.100.7", "203.0.113.1", ()) == "198.51.100.7"
    assert client_ip("198.51.100.7", "203.0.113.1", PROXY) == "198.51.100.7"
    assert client_ip("10.1.2.3", "203.0.113.1", PROXY) == "203.0.113.1"
    # A client cannot smuggle an address in front of the proxy's own entry.
    assert client_ip("10.1.2.3", "1.2.3.4, 203.0.113.1, 10.9.9.9", PROXY) == "203.0.113.1"
    assert client_ip("10.1.2.3", "garbage", PROXY) == "10.1.2.3"
    assert client_ip(None, "203.0.113.1", PROXY) == ""


def test_token_bucket():
    limiter = RateLimiter(rate_per_second=10, burst=3)
    assert [limiter.retry_after(1, now=100.0) for _ in range(3)] == [0, 0, 0]
    assert limiter.retry_after(1, now=100.0) > 0
    assert limiter.retry_after(2, now=100.0) == 0  # per site
    assert limiter.retry_after(1, now=100.15) == 0  # refilled a token
