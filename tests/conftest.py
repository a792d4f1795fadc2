"""Fixtures shared by every test folder: keep them generic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pagepulse.config import Settings

if TYPE_CHECKING:
    from tests.support.smtp import SmtpServer


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings over a fresh data dir (its own SQLite file and lake) for each test."""
    return Settings(data_dir=tmp_path / "data", secret_key="test-secret-key")


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback (aiosmtpd) that keeps the messages it receives."""
    from tests.support.smtp import SmtpServer

    with SmtpServer() as server:
        yield server
