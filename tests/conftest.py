"""Fixtures shared by every test folder: keep them generic."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pagepulse.config import Settings
from pagepulse.control.db import open_database

if TYPE_CHECKING:
    from tests.support.smtp import SmtpServer


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings over a fresh data dir (its own SQLite file and lake) for each test."""
    return Settings(data_dir=tmp_path / "data", secret_key="test-secret-key")


@pytest.fixture
def conn(settings: Settings) -> Iterator[sqlite3.Connection]:
    """The control database of ``settings`` (a real SQLite file), migrated."""
    connection = open_database(settings.db_path)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback (aiosmtpd) that keeps the messages it receives."""
    from tests.support.smtp import SmtpServer

    with SmtpServer() as server:
        yield server
