"""Real servers for the billing tests: one in saas mode (webhook secret set, the overuse
check every half second), one in the default selfhosted mode, and accounts logged in over
HTTP through the real forms. Helpers live in ``tests/billing/servers.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.billing.servers import PASSWORD, SAAS_ENV
from tests.support.server import Server
from tests.support.site import ensure_user, log_in


@pytest.fixture(scope="module")
def saas_server(tmp_path_factory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("saas") / "data", env=SAAS_ENV).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def selfhosted_server(tmp_path_factory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("selfhosted") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def account() -> Iterator[Callable[..., tuple[int, httpx.Client]]]:
    """Make an account on a server, logged in: (user id, client)."""
    clients: list[httpx.Client] = []

    def make(server: Server, email: str) -> tuple[int, httpx.Client]:
        user_id = ensure_user(server.data_dir, email, PASSWORD)
        client = httpx.Client(base_url=server.url, follow_redirects=True, timeout=30)
        clients.append(client)
        log_in(client, email, PASSWORD)
        return user_id, client

    yield make
    for client in clients:
        client.close()
