"""The payment provider's webhook: a signed, timestamped, single-use plan change.

A delivery is ``POST /api/billing/webhook`` with a JSON body ``{"email": ..., "plan":
...}`` (or ``"account_id"`` instead of ``"email"``) and the header

    PagePulse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

so any payment provider (or a few lines of glue next to it) can drive plan changes.
It is accepted when a ``v1`` signature matches (constant-time compare), ``t`` is within
``TOLERANCE_SECONDS`` of now, and the same signed payload was not applied before: the
SHA-256 of ``"<t>.<body>"`` goes into ``webhook_deliveries`` in the transaction that
changes the plan, and rows older than the window (:data:`KEEP_DELIVERY_SECONDS`) are
pruned at each delivery and daily by ``web/housekeeping.py`` (a payload that old is
refused by its timestamp anyway). Every refusal is a :class:`WebhookError` with a
4xx status and a message saying what to fix.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from dataclasses import dataclass

from pagepulse.config import Settings
from pagepulse.control import plans
from pagepulse.control.db import transaction
from pagepulse.control.users import User, get_user, get_user_by_email

SIGNATURE_HEADER = "PagePulse-Signature"
TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 16 * 1024
SCHEME = "v1"
# A delivery id must outlive every timestamp that passes ``verify`` (now ± tolerance).
KEEP_DELIVERY_SECONDS = 2 * TOLERANCE_SECONDS


class WebhookError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class PlanChange:
    user: User
    plan: plans.Plan


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"``: what the sender computes."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},{SCHEME}={signature(secret, timestamp, body)}"


def verify(secret: str, header: str | None, body: bytes, now: float) -> int:
    """The delivery's timestamp when the header signs ``body`` recently; else a 400/401."""
    if not header:
        raise WebhookError(f"missing {SIGNATURE_HEADER} header: t=<unix time>,v1=<hex HMAC>")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookError(f"malformed {SIGNATURE_HEADER} header: expected t=<unix time>,v1=<hex>")
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise WebhookError(
            f"timestamp out of range: t must be within {TOLERANCE_SECONDS} s of the "
            "server's clock (sign each delivery when it is sent)",
            401,
        )
    expected = signature(secret, timestamp, body)
    # Compare with every candidate (no early exit), each in constant time.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected.encode(), candidate.strip().lower().encode())
    if not matched:
        raise WebhookError("bad signature: HMAC-SHA256 of '<t>.<body>' with the shared secret", 401)
    return timestamp


def delivery_id(timestamp: int, body: bytes) -> str:
    return hashlib.sha256(str(timestamp).encode() + b"." + body).hexdigest()


def parse_body(body: bytes) -> dict[str, object]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookError('the body must be JSON: {"email": "...", "plan": "..."}') from None
    if not isinstance(data, dict):
        raise WebhookError('the body must be a JSON object: {"email": "...", "plan": "..."}')
    return data


def apply(
    settings: Settings, conn: sqlite3.Connection, timestamp: int, body: bytes, now: float
) -> PlanChange:
    """Apply a verified delivery once: the account's new plan (400/404/409/422 otherwise)."""
    data = parse_body(body)
    plan_name = data.get("plan")
    if not isinstance(plan_name, str):
        raise WebhookError('"plan" is required: the name of a plan, e.g. "pro"')
    try:
        plan = plans.find_plan(settings, plan_name)
    except plans.UnknownPlan as exc:
        raise WebhookError(str(exc), 422) from None
    with transaction(conn):
        user = _account(conn, data)
        prune_deliveries(conn, now)
        inserted = conn.execute(
            "INSERT INTO webhook_deliveries (id, received_at) VALUES (?, ?) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            (delivery_id(timestamp, body), now),
        ).fetchone()
        if inserted is None:
            raise WebhookError("this delivery was already applied (replayed)", 409)
        plans.set_plan(settings, conn, user.id, plan.name, "webhook")
    return PlanChange(user, plan)


def prune_deliveries(conn: sqlite3.Connection, now: float) -> int:
    """Delete delivery ids older than :data:`KEEP_DELIVERY_SECONDS`; returns how many."""
    cur = conn.execute(
        "DELETE FROM webhook_deliveries WHERE received_at < ?", (now - KEEP_DELIVERY_SECONDS,)
    )
    return cur.rowcount


def _account(conn: sqlite3.Connection, data: dict[str, object]) -> User:
    email, account_id = data.get("email"), data.get("account_id")
    if (email is None) == (account_id is None):
        raise WebhookError('give the account as "email" or as "account_id" (one of them)')
    if email is not None:
        if not isinstance(email, str) or not email.strip():
            raise WebhookError('"email" must be a string')
        user = get_user_by_email(conn, email)
        missing = f"no account with email {email[:254]!r}"
    else:
        if not isinstance(account_id, int) or isinstance(account_id, bool):
            raise WebhookError('"account_id" must be a whole number')
        user = get_user(conn, account_id)
        missing = f"no account with id {account_id}"
    if user is None:
        raise WebhookError(missing, 422)
    return user
