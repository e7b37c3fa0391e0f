"""Cursors of a listing: opaque to whoever holds them.

A page of a listing (`GET /v1/referrals`, `GET /v1/register`, the notifications' subscriptions and deliveries) ends at a
position in the service's notification log (the keyset of the listing). Handed out in the clear, consecutive cursors of
one organisation (1, then 7) would tell how many records other organisations made meanwhile. A cursor is that position
sealed with AES-GCM, under a key derived (HKDF, with a label of the listing's own) from a secret the service already
holds, so a replica opens what another sealed and no separate secret needs to be deployed; what the cursor is bound to
(the caller's organisation, what it may read and the listing's filters) is its associated data: a cursor altered, or
brought to another listing, with other filters or by another organisation, does not open.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.common.cipher import open_aead, seal_aead

CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
"""base64url without padding (a cursor is 50 characters; the limit leaves room for a later format)."""

CURSOR_DESCRIPTION = "next_cursor of the previous page, as it came, with the same filters"

Binding = Sequence[str | None]
"""What a cursor is bound to, in a fixed order: who lists (the organisation, and what it may read), then the
listing's filters (None: not given)."""

_FORMAT = b"\x01"
_POSITION = struct.Struct(">Q")
_REFUSED = "not a cursor of this listing (pass next_cursor as it came, with the same filters)"


class CursorInvalidError(Exception):
    """The cursor is not one this listing handed to the caller's organisation (altered, or another listing's)."""

    field = "cursor"


class ListCursors:
    """Seals a listing's position into a cursor and opens it again, for the same binding only."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def derived_from(cls, secret: bytes, label: bytes) -> ListCursors:
        """A key of their own, derived with HKDF from a secret the service holds: a cursor reveals nothing of that
        secret, and `label` (one per listing) gives each listing a key of its own."""
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret)
        return cls(key)

    def seal(self, position: int, binding: Binding) -> str:
        sealed = seal_aead(self._aead, _FORMAT + _POSITION.pack(position), _associated(binding))
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, cursor: str, binding: Binding) -> int:
        """The position sealed in `cursor`; CursorInvalidError unless it was sealed with this binding."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            plain = open_aead(self._aead, raw, _associated(binding))
        except (binascii.Error, ValueError, InvalidTag):
            raise CursorInvalidError(_REFUSED) from None
        if len(plain) != 1 + _POSITION.size or plain[:1] != _FORMAT:
            raise CursorInvalidError(_REFUSED)
        position: int = _POSITION.unpack(plain[1:])[0]
        return position


def _associated(binding: Binding) -> bytes:
    return "\x1f".join("\x00" if part is None else part for part in binding).encode()
