"""Paging through the disclosure register: cursors that tell nothing of other organisations' traffic, and open only
for the organisation and the filters they were handed with (`services.common.cursors`, as the referral listing's)."""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import Any

import pytest
from eventsourcing.cryptography import AESCipher
from fastapi.testclient import TestClient

from tests.consent.conftest import DISCLOSER, RECIPIENT, SUBJECT
from tests.consent.test_api import ASK, CONSENT

Auth = Callable[..., dict[str, str]]
OTHER = "org-other"
ORDER = {**ASK, "purpose": "LEGAL_ORDER", "context": {"court_order_ref": "CO-1"}}
"""A disclosure under a court order: registered without any consent."""


def _disclose(api: TestClient, auth: Auth, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        entry = api.post("/v1/disclosures", json=ORDER, headers=auth(DISCLOSER, "intake")).json()
        assert entry["register_entry_id"], entry
        ids.append(entry["register_entry_id"])
    return ids


def _page(api: TestClient, headers: dict[str, str], **params: Any) -> Any:
    return api.get("/v1/register", params=params, headers=headers)


@pytest.fixture
def api(consent_api: Callable[..., TestClient]) -> TestClient:
    return consent_api()


def test_register_cursors_tell_nothing_of_other_organisations_traffic(api: TestClient, auth: Auth) -> None:
    """They were the global event numbers: 3 then 12 told that 8 events (another organisation's consents) came
    between two disclosures."""
    mine = _disclose(api, auth, 1)
    for i in range(7):  # another organisation's records, which it alone may see
        api.post("/v1/consents", json={**CONSENT, "subject_id": f"S-00099{i}"}, headers=auth(OTHER, "intake"))
    mine += _disclose(api, auth, 3)
    seen, cursors, cursor = [], [], None
    while True:
        page = _page(api, auth(DISCLOSER, "intake"), limit=1, **({"cursor": cursor} if cursor else {})).json()
        seen += [e["register_entry_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        cursors.append(cursor)
    assert seen == mine
    assert len(cursors) == 3
    for cursor in cursors:
        assert not cursor.isdigit()
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        assert all(struct.pack(">Q", n) not in raw for n in range(1, 30)), "no position in the clear"
    again = _page(api, auth(DISCLOSER, "intake"), limit=1).json()["next_cursor"]
    assert again != cursors[0], "the same position sealed twice looks different"


def test_a_register_cursor_opens_only_for_its_organisation_and_filters(api: TestClient, auth: Auth) -> None:
    _disclose(api, auth, 3)
    intake = auth(DISCLOSER, "intake")
    filters = {
        "subject_id": SUBJECT,
        "recipient_org": RECIPIENT,
        "from": "2026-11-01T00:00:00",
        "to": "2026-12-01T00:00:00",
    }
    cursor = _page(api, intake, limit=1, **filters).json()["next_cursor"]
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    for case, headers, params in [
        ("altered", intake, {**filters, "cursor": tampered}),
        ("another person", intake, {**filters, "subject_id": "S-000999", "cursor": cursor}),
        ("another recipient", intake, {**filters, "recipient_org": "org-gamma", "cursor": cursor}),
        ("another period", intake, {**filters, "from": "2026-10-01T00:00:00", "cursor": cursor}),
        ("a filter dropped", intake, {"subject_id": SUBJECT, "recipient_org": RECIPIENT, "cursor": cursor}),
        ("another organisation", auth(OTHER, "intake"), {**filters, "cursor": cursor}),
        ("the network's register", auth("ministry", "network-auditor"), {**filters, "cursor": cursor}),
        ("a position in the clear, as cursors were", intake, {**filters, "cursor": "1"}),
        ("too long", intake, {**filters, "cursor": "A" * 129}),
        ("not base64url", intake, {**filters, "cursor": "a.b"}),
    ]:
        response = _page(api, headers, limit=1, **params)
        assert response.status_code == 422, (case, response.text)
        assert response.json()["errors"][0]["field"] == "cursor", case
    same_instants = {**filters, "from": "2026-11-01T04:00:00Z", "to": "2026-12-01T00:00:00-05:00"}
    for case, headers, params in [
        ("another role of the organisation", auth(DISCLOSER, "auditor"), filters),
        ("the same instants written otherwise", intake, same_instants),
    ]:
        response = _page(api, headers, limit=1, **params, cursor=cursor)
        assert response.status_code == 200, (case, response.text)
        assert len(response.json()["items"]) == 1, case


def test_a_register_cursor_opens_on_every_replica_with_the_stores_key(
    tmp_path: Any, consent_api: Callable[..., TestClient], auth: Auth
) -> None:
    """Keyed from the store's cipher key, which every replica holds; a service with another key refuses it."""
    store = f"sqlite:///{tmp_path / 'events.db'}"
    one, replica = consent_api(event_store=store), consent_api(event_store=store)
    _disclose(one, auth, 2)
    cursor = _page(one, auth(DISCLOSER, "intake"), limit=1).json()["next_cursor"]
    assert _page(replica, auth(DISCLOSER, "intake"), limit=1, cursor=cursor).status_code == 200
    elsewhere = consent_api(cipher_key=AESCipher.create_key(32))
    refused = _page(elsewhere, auth(DISCLOSER, "intake"), limit=1, cursor=cursor)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "cursor"
