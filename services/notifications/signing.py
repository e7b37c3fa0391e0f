"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`
(during a secret rotation's grace period, one signature per secret, space-separated: `v1,<new> v1,<previous>`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from services.notifications.domain import SECRET_PREFIX, secret_key

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
"""Structured content mode of CloudEvents over HTTP."""


def generate_secret() -> str:
    """A fresh `whsec_` secret (32 random bytes) for a webhook subscribed without one."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(signing_secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Signed with each of `signing_secrets` (the current one first): a receiver holding any of them verifies it."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(secret, message_id, timestamp, body) for secret in signing_secrets),
        "content-type": CONTENT_TYPE,
    }
