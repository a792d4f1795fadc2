"""Signed one-click unsubscribe links: ``/reports/unsubscribe/<token>``.

The token names (site, user, kind) and is signed with the settings secret
(itsdangerous, its own salt so no other signed value can stand in for it). It never
expires: a link in an old email must still work. It is the only authentication of
the unsubscribe endpoint, which mail clients call without a session (RFC 8058).
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from pagepulse.config import Settings
from pagepulse.reports.schedule import Kind, parse_kind

SALT = "pagepulse.reports.unsubscribe"
PATH = "/reports/unsubscribe/"


@dataclass(frozen=True, slots=True)
class UnsubscribeRequest:
    site_id: int
    user_id: int
    kind: Kind


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret, salt=SALT)


def make_token(settings: Settings, site_id: int, user_id: int, kind: Kind) -> str:
    return _serializer(settings).dumps([site_id, user_id, kind])


def unsubscribe_url(settings: Settings, site_id: int, user_id: int, kind: Kind) -> str:
    token = make_token(settings, site_id, user_id, kind)
    return f"{settings.base_url.rstrip('/')}{PATH}{token}"


def read_token(settings: Settings, token: str) -> UnsubscribeRequest | None:
    """What a token asks for, or None when it was not signed by us (or is malformed)."""
    try:
        value = _serializer(settings).loads(token)
    except BadSignature:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value[:2])
        or not isinstance(value[2], str)
    ):
        return None
    try:
        return UnsubscribeRequest(value[0], value[1], parse_kind(value[2]))
    except ValueError:
        return None
