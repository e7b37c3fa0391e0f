"""The listings' cursors (`services.common.cursors`), shared by the referral listing, the disclosure register
and the notifications listings (subscriptions, deliveries): a position sealed for one binding, under a key of the
listing's own."""

from __future__ import annotations

import re

import pytest

from services.common.cursors import CURSOR_PATTERN, CursorInvalidError, ListCursors
from services.consent.main import REGISTER_CURSORS
from services.notifications.main import DELIVERY_CURSORS, SUBSCRIPTION_CURSORS
from services.referral.main import LIST_CURSORS

SECRET = b"\1" * 32


def test_a_cursor_gives_back_its_position_for_its_binding_only() -> None:
    cursors = ListCursors.derived_from(SECRET, b"a listing")
    bound = ("org-a", "org-a", None, "REFERRAL")
    for position in (0, 1, 10**9 + 1, 2**64 - 1):
        cursor = cursors.seal(position, bound)
        assert re.fullmatch(CURSOR_PATTERN, cursor)
        assert cursors.open(cursor, bound) == position
    cursor = cursors.seal(7, bound)
    for other in (("org-b", "org-a", None, "REFERRAL"), ("org-a", "org-a", "", "REFERRAL"), ("org-a", "org-a", None)):
        with pytest.raises(CursorInvalidError):
            cursors.open(cursor, other)


def test_each_listing_derives_a_key_of_its_own_from_the_same_secret() -> None:
    """A service keying two listings from one secret: one listing's cursor does not open in the other."""
    labels = (LIST_CURSORS, REGISTER_CURSORS, SUBSCRIPTION_CURSORS, DELIVERY_CURSORS)
    assert len(set(labels)) == len(labels)
    referrals, register = (ListCursors.derived_from(SECRET, label) for label in (LIST_CURSORS, REGISTER_CURSORS))
    with pytest.raises(CursorInvalidError):
        register.open(referrals.seal(3, ("org-a",)), ("org-a",))
