"""Impression tokens: /v1/ads/select signs each ad it serves, and only a click carrying one is charged.

A token names the creative, the shopper it was shown to (their pseudonymised key; empty for an anonymous page),
when it was served and a random id; an HMAC over these makes it unforgeable without the service's secret.
A click is charged only for a valid token of that creative and shopper younger than TOKEN_TTL, once per token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

TOKEN_TTL = timedelta(hours=1)  # a click later than this after the ad was served is not charged
_PROCESS_KEY = secrets.token_bytes(32)


@dataclass(frozen=True)
class Impression:
    """What a valid token says: this creative was served to this shopper at this time (`token_id` is unique)."""

    creative_id: int
    user_tag: str
    served_at: datetime
    token_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def _tag(user_key: str | None) -> str:
    """A shopper's key as the token carries it: a short digest (never the id), empty for an anonymous page."""
    return hashlib.sha256(user_key.encode()).hexdigest()[:32] if user_key else ""


def signing_key(secret: str | None) -> bytes:
    """The tokens' HMAC key: derived from the configured secret, else this process's own (lost on restart)."""
    if secret is None:
        return _PROCESS_KEY
    return hmac.new(secret.encode(), b"shoplens impression token", hashlib.sha256).digest()


def issue_token(key: bytes, creative_id: int, user_key: str | None, now: datetime) -> str:
    """A signed token for one ad served to one shopper (None: an anonymous page) now."""
    payload = f"{creative_id}:{_tag(user_key)}:{int(now.timestamp())}:{secrets.token_hex(8)}"
    encoded = _b64(payload.encode())
    return f"{encoded}.{_sign(key, encoded)}"


def check_token(
    key: bytes, token: str | None, creative_id: int, user_key: str, now: datetime
) -> Impression | str:
    """The impression a token proves for this click, or why it proves none (a short reason)."""
    if not token:
        return "no impression token"
    encoded, _, signature = token.partition(".")
    if not hmac.compare_digest(signature, _sign(key, encoded)):
        return "the impression token is not valid"
    try:
        raw_creative, token_user, raw_ts, token_id = (
            base64.urlsafe_b64decode(encoded + "==").decode().split(":")
        )
        impression = Impression(
            int(raw_creative), token_user, datetime.fromtimestamp(int(raw_ts), UTC), token_id
        )
    except ValueError:
        return "the impression token is not valid"
    if impression.creative_id != creative_id:
        return "the impression token is for another creative"
    if impression.user_tag and impression.user_tag != _tag(user_key):
        return "the impression token is for another shopper"
    if not timedelta(0) <= now - impression.served_at <= TOKEN_TTL:
        return "the impression token has expired"
    return impression
