"""Fixtures for the team tests: one real server per test module (with a real SMTP
server on loopback for its mail), and the ``Team`` of tests/team/helpers.py on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.passwords import cheap_password_hashing
from tests.support.server import Server
from tests.support.smtp import SmtpServer
from tests.team.helpers import Team, build_team, start_server


@pytest.fixture(scope="module", autouse=True)
def cheap_passwords() -> Iterator[None]:
    """Accounts made by the team tests hash (and log in) at the lowest argon2 cost."""
    with cheap_password_hashing():
        yield


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("team") / "data"
    running = start_server(data_dir, {"PAGEPULSE_SMTP_URL": smtp.url})
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def team(server: Server) -> Iterator[Team]:
    built = build_team(server)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def fresh_team(team: Team) -> Team:
    """The module's team with its roles as at the start."""
    team.reset()
    return team
