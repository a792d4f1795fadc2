"""Real argon2 password hashes at the lowest cost, for tests that make many accounts.

Accounts made while ``cheap_password_hashing()`` is active get cheap hashes; the hash
carries its parameters, so a server started from the same data dir (another process,
with the normal cost) checks them as cheaply at log-in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from passlib.context import CryptContext

from pagepulse.control import users


@contextlib.contextmanager
def cheap_password_hashing() -> Iterator[None]:
    cheap = CryptContext(
        schemes=["argon2"], argon2__memory_cost=8, argon2__rounds=1, argon2__parallelism=1
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "_passwords", cheap)
        yield
