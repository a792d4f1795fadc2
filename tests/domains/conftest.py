"""Fixtures for the custom-domain tests: a real DNS server on loopback (dnslib) and
settings over a fresh data dir that ask it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pagepulse.config import Settings
from tests.domains.helpers import domain_settings
from tests.support.dns import DnsTestServer, dns_server
from tests.support.passwords import cheap_password_hashing


@pytest.fixture(autouse=True)
def cheap_passwords() -> Iterator[None]:
    with cheap_password_hashing():
        yield


@pytest.fixture
def dns() -> Iterator[DnsTestServer]:
    with dns_server() as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, dns: DnsTestServer) -> Settings:
    return domain_settings(tmp_path / "data", dns.address)
