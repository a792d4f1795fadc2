"""Log-in sessions, CSRF tokens and log-in throttling: the security rules behind the
account pages, free of FastAPI so they read (and test) on their own.

Sessions: a random id in a cookie signed with the app secret; the ``sessions`` table
holds only its SHA-256, so a leaked database cannot be replayed as a log-in. Expiry is
30 days and slides forward on use, written at most once a day.

CSRF: a token derived from whatever the form is bound to: the session id once logged
in, else a random "pre-session" nonce in its own cookie (for the log-in and register
forms). Tokens are HMACs, so nothing extra is stored and no token reveals the id.

Throttling: failed log-ins count per account (in SQLite, keyed by an HMAC of the
email, so unknown addresses behave like real ones) and per client address (in memory
only, keyed by an HMAC of the address: no address is ever written anywhere).

Request glue (dependencies, cookies) lives in ``deps.py``; pages in ``routes/account.py``.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import secrets
import sqlite3
import threading
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from pagepulse.control.users import User, get_user, normalise_email

SESSION_COOKIE = "pp_session"
PRESESSION_COOKIE = "pp_presession"
SESSION_LIFETIME = 30 * 24 * 3600
# Sliding the expiry costs a write; once a day is plenty against a 30-day lifetime.
SESSION_REFRESH_AFTER = 24 * 3600

ACCOUNT_MAX_FAILURES = 5
ACCOUNT_WINDOW = 15 * 60
IP_MAX_FAILURES = 20
IP_WINDOW = 15 * 60


def _hmac(secret: str, purpose: str, value: str) -> str:
    return hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


# Sessions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    id: str  # the raw id from the cookie; kept in memory only, to derive the CSRF token
    user: User
    expires_at: float


def _hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _cookie_serializer(secret: str, purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=f"pagepulse.{purpose}")


def sign_cookie(secret: str, purpose: str, value: str) -> str:
    return _cookie_serializer(secret, purpose).dumps(value)


def unsign_cookie(secret: str, purpose: str, signed: str | None) -> str | None:
    if not signed:
        return None
    try:
        value = _cookie_serializer(secret, purpose).loads(signed)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def create_session(conn: sqlite3.Connection, user_id: int, now: float) -> str:
    """A new session for the user; returns the raw id (to be signed into the cookie)."""
    session_id = secrets.token_urlsafe(32)
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
    conn.execute(
        "INSERT INTO sessions (id_hash, user_id, expires_at) VALUES (?, ?, ?)",
        (_hash_id(session_id), user_id, now + SESSION_LIFETIME),
    )
    return session_id


def load_session(conn: sqlite3.Connection, session_id: str, now: float) -> Session | None:
    row = conn.execute(
        "SELECT user_id, expires_at FROM sessions WHERE id_hash = ?", (_hash_id(session_id),)
    ).fetchone()
    if row is None:
        return None
    if row["expires_at"] <= now:
        delete_session(conn, session_id)
        return None
    user = get_user(conn, row["user_id"])
    if user is None:
        return None
    return Session(id=session_id, user=user, expires_at=row["expires_at"])


def refresh_session(conn: sqlite3.Connection, session: Session, now: float) -> bool:
    """Slide the expiry forward if it was last moved more than a day ago."""
    if session.expires_at - now > SESSION_LIFETIME - SESSION_REFRESH_AFTER:
        return False
    conn.execute(
        "UPDATE sessions SET expires_at = ? WHERE id_hash = ?",
        (now + SESSION_LIFETIME, _hash_id(session.id)),
    )
    return True


def delete_session(conn: sqlite3.Connection, session_id: str) -> None:
    conn.execute("DELETE FROM sessions WHERE id_hash = ?", (_hash_id(session_id),))


def delete_other_sessions(conn: sqlite3.Connection, user_id: int, keep_session_id: str) -> None:
    conn.execute(
        "DELETE FROM sessions WHERE user_id = ? AND id_hash != ?",
        (user_id, _hash_id(keep_session_id)),
    )


# CSRF -------------------------------------------------------------------------------


def session_csrf_binding(session_id: str) -> str:
    return f"session:{session_id}"


def presession_csrf_binding(nonce: str) -> str:
    return f"pre:{nonce}"


def new_presession_nonce() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(secret: str, binding: str) -> str:
    return _hmac(secret, "csrf", binding)


def csrf_token_valid(secret: str, binding: str, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(csrf_token(secret, binding), token or "")


# Throttling -------------------------------------------------------------------------


def account_key(secret: str, email: str) -> str:
    return _hmac(secret, "account", normalise_email(email))


def account_locked_until(conn: sqlite3.Connection, key: str, now: float) -> float | None:
    """When the lock on this account ends, or None if it may try to log in.

    Locked once ``ACCOUNT_MAX_FAILURES`` failures fall in the window; attempts while
    locked are not counted, so the lock ends one window after the failure that set it.
    """
    row = conn.execute(
        "SELECT count(*) AS failures, max(failed_at) AS latest FROM login_failures"
        " WHERE account_key = ? AND failed_at > ?",
        (key, now - ACCOUNT_WINDOW),
    ).fetchone()
    if row["failures"] < ACCOUNT_MAX_FAILURES:
        return None
    return row["latest"] + ACCOUNT_WINDOW


def record_account_failure(conn: sqlite3.Connection, key: str, now: float) -> None:
    conn.execute("DELETE FROM login_failures WHERE failed_at <= ?", (now - ACCOUNT_WINDOW,))
    conn.execute("INSERT INTO login_failures (account_key, failed_at) VALUES (?, ?)", (key, now))


def clear_account_failures(conn: sqlite3.Connection, key: str) -> None:
    conn.execute("DELETE FROM login_failures WHERE account_key = ?", (key,))


class IpThrottle:
    """Failed attempts per client address, in this process's memory only.

    Keys are HMACs of the address, so not even memory holds the address after the
    call. Each worker process counts on its own: with N workers an address gets up to
    N times the limit, which still stops bulk guessing.
    """

    def __init__(
        self,
        secret: str,
        max_failures: int = IP_MAX_FAILURES,
        window: float = IP_WINDOW,
        max_keys: int = 100_000,
    ) -> None:
        self._secret = secret
        self.max_failures = max_failures
        self.window = window
        self._max_keys = max_keys
        self._failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()  # route handlers run in a thread pool

    def _key(self, ip: str) -> str:
        return _hmac(self._secret, "ip", ip)

    def _recent(self, key: str, now: float) -> collections.deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def blocked(self, ip: str, now: float) -> bool:
        with self._lock:
            times = self._recent(self._key(ip), now)
            return times is not None and len(times) >= self.max_failures

    def record_failure(self, ip: str, now: float) -> None:
        with self._lock:
            key = self._key(ip)
            times = self._recent(key, now)
            if times is None:
                if len(self._failures) >= self._max_keys:
                    self._forget_expired(now)
                times = self._failures[key] = collections.deque(maxlen=self.max_failures)
            times.append(now)

    def _forget_expired(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        if len(self._failures) >= self._max_keys:
            # Still full of live entries (a flood of addresses): drop the oldest half
            # rather than grow without bound.
            by_age = sorted(self._failures, key=lambda k: self._failures[k][-1])
            for key in by_age[: len(by_age) // 2]:
                del self._failures[key]
