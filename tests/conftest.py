"""Fixtures shared by every test folder: keep them generic."""

from __future__ import annotations

from pathlib import Path

import pytest

from pagepulse.config import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings over a fresh data dir (its own SQLite file and lake) for each test."""
    return Settings(data_dir=tmp_path / "data", secret_key="test-secret-key")
