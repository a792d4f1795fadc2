"""Fixtures for the tracker tests: the built script and a runner for harness.js."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pagepulse.ingest.tracker import BUILT_SCRIPT

SOURCE_SCRIPT = BUILT_SCRIPT.parent.parent / "script.js"
HARNESS = Path(__file__).parent / "harness.js"

RunTracker = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def built_script() -> Path:
    """The minified tracker, which must be built from the current source."""
    if not BUILT_SCRIPT.exists():
        pytest.fail(f"{BUILT_SCRIPT} is missing: run `make assets`")
    if BUILT_SCRIPT.stat().st_mtime < SOURCE_SCRIPT.stat().st_mtime:
        pytest.fail(f"{BUILT_SCRIPT} is older than {SOURCE_SCRIPT}: run `make assets`")
    return BUILT_SCRIPT


@pytest.fixture(scope="session")
def run_tracker(built_script: Path) -> RunTracker:
    """Run the built tracker (or another script) in harness.js for a scenario (fields: see
    harness.js) and return what it sent. Fails when the script errors, unless allowed."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to run the tracker tests")

    def run(
        scenario: dict[str, Any], script: Path = built_script, allow_error: bool = False
    ) -> dict[str, Any]:
        completed = subprocess.run(
            [node, str(HARNESS), str(script), json.dumps(scenario)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert allow_error or completed.returncode == 0, completed.stdout + completed.stderr
        return json.loads(completed.stdout)

    return run
