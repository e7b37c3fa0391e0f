"""The list's cursors: opaque to whoever holds them.

A page of `GET /v1/referrals` ends at a position in the notification log (the keyset of the listing). Handed out in
the clear, consecutive cursors of one organisation's referrals (1, then 7) would tell how many referrals other
organisations submitted meanwhile. A cursor is that position sealed with AES-GCM, under a key derived (HKDF) from
the vault's master key, so a replica opens what another sealed; the caller's organisation and the listing's filters
are its associated data: a cursor altered, or brought to another listing or by another organisation, does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.referral.domain import ReferralError
from services.referral.views import Listing

CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
"""base64url without padding (a cursor is 50 characters; the limit leaves room for a later format)."""

_FORMAT = b"\x01"
_NONCE_BYTES = 12
_POSITION = struct.Struct(">Q")
_KEY_INFO = b"rls referral list cursors v1"


class ReferralCursorError(ReferralError):
    """The cursor is not one this listing handed to the caller's organisation (altered, or another listing's)."""

    field = "cursor"


class ListCursors:
    """Seals a listing's position into a cursor and opens it again, for the same organisation and filters only."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def derived_from(cls, master_key: bytes) -> ListCursors:
        """A key of their own, derived from the service's master key (the vault's) with HKDF: a cursor reveals
        nothing of the vault's key, and no separate secret needs to be deployed."""
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(master_key)
        return cls(key)

    def seal(self, position: int, caller_org: str, listing: Listing) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, _FORMAT + _POSITION.pack(position), _bound_to(caller_org, listing))
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, cursor: str, caller_org: str, listing: Listing) -> int:
        """The position sealed in `cursor`; ReferralCursorError unless it was sealed for this organisation and
        these filters."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _bound_to(caller_org, listing))
        except (binascii.Error, ValueError, InvalidTag):
            raise ReferralCursorError(
                "not a cursor of this listing (pass next_cursor as it came, with the same filters)"
            ) from None
        if len(plain) != 1 + _POSITION.size or plain[:1] != _FORMAT:
            raise ReferralCursorError(
                "not a cursor of this listing (pass next_cursor as it came, with the same filters)"
            )
        position: int = _POSITION.unpack(plain[1:])[0]
        return position


def _bound_to(caller_org: str, listing: Listing) -> bytes:
    """What a cursor is bound to: who lists (the organisation, and what it may read) and with which filters."""
    parts = (caller_org, listing.scope, listing.to_org, listing.from_org, listing.status)
    return "\x1f".join("\x00" if part is None else part for part in parts).encode()
