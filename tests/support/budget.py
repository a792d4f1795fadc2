"""Test budgets: the default suite stays fast; ``-m long`` asks for the full variants.

The ``long`` marker is declared in pyproject.toml. The default suite does not
deselect markers, so a long variant that is only worth running on request carries
``@pytest.mark.skipif(LONG_ONLY, reason=…)`` (skipped before its fixtures are built),
or asks :func:`long_run` for a bigger count.
"""

from __future__ import annotations

import os
import time

import pytest


def long_run(config: pytest.Config) -> bool:
    """Whether this run selected the long tests (``pytest -m long``)."""
    expression = config.option.markexpr or ""
    return "long" in expression and "not long" not in expression


# A skipif condition pytest evaluates with the run's ``config``.
LONG_ONLY = "'long' not in (config.option.markexpr or '') or 'not long' in config.option.markexpr"


def count(name: str, default: int) -> int:
    """An example or cycle count from the environment variable ``name``."""
    return int(os.environ.get(name, str(default)))


def wait_for_a_quiet_machine(below: float = 1.0, at_most: float = 120.0) -> float:
    """Wait (``at_most`` seconds) until the 1-minute load average is under ``below``,
    after writing dirty pages to disk; returns the load average at the end.

    For the benchmark bars in the long run: they follow the default suite, whose
    processes and writeback would otherwise still share the 2 cores and the disk.
    """
    os.sync()
    deadline = time.monotonic() + at_most
    while os.getloadavg()[0] >= below and time.monotonic() < deadline:
        time.sleep(2)
    return os.getloadavg()[0]
