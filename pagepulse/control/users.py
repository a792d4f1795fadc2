"""User accounts: create, look up, verify passwords (argon2 via passlib)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from passlib.context import CryptContext

_passwords = CryptContext(schemes=["argon2"], deprecated="auto")

# Verified against when the email is unknown, so a login takes as long either way
# (no account enumeration by timing).
_DUMMY_HASH = _passwords.hash("pagepulse-dummy-password")

MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    created_at: str


class UserExists(Exception):
    pass


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _from_row(row: sqlite3.Row) -> User:
    return User(id=row["id"], email=row["email"], created_at=row["created_at"])


def create_user(conn: sqlite3.Connection, email: str, password: str) -> User:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    try:
        cur = conn.execute(
            "INSERT INTO users (email, password_hash) VALUES (?, ?) RETURNING *",
            (normalise_email(email), _passwords.hash(password)),
        )
    except sqlite3.IntegrityError as exc:
        raise UserExists(email) from exc
    return _from_row(cur.fetchone())


def get_user(conn: sqlite3.Connection, user_id: int) -> User | None:
    row = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
    return _from_row(row) if row else None


def get_user_by_email(conn: sqlite3.Connection, email: str) -> User | None:
    row = conn.execute("SELECT * FROM users WHERE email = ?", (normalise_email(email),)).fetchone()
    return _from_row(row) if row else None


def authenticate(conn: sqlite3.Connection, email: str, password: str) -> User | None:
    row = conn.execute("SELECT * FROM users WHERE email = ?", (normalise_email(email),)).fetchone()
    if row is None:
        _passwords.verify(password, _DUMMY_HASH)
        return None
    ok, new_hash = _passwords.verify_and_update(password, row["password_hash"])
    if not ok:
        return None
    if new_hash:
        conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (new_hash, row["id"]))
    return _from_row(row)


def set_password(conn: sqlite3.Connection, user_id: int, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    conn.execute(
        "UPDATE users SET password_hash = ? WHERE id = ?", (_passwords.hash(password), user_id)
    )
