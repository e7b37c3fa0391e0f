"""Listing referrals: filters declared like every organisation id, on both stores; cursors that tell nothing of
other organisations' traffic and open only for the listing and the organisation they were handed to."""

from __future__ import annotations

import base64
import struct
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.clock import ManualClock
from services.common.cursors import CursorInvalidError, ListCursors
from services.referral.documents import ReferralPage, ReferralPublic
from services.referral.main import LIST_CURSORS, build_app
from services.referral.ports import Gateways
from services.referral.settings import ReferralSettings
from services.referral.views import Listing
from tests.referral.conftest import T0, ReferralService, body
from tests.referral.fakes import FakeDirectory, FakeGate
from tests.referral.test_meetings import following, meet, plan

Auth = Callable[..., dict[str, str]]
SENDER, RECEIVER, OTHERS = "csss-a", "org-b", "org-x"


def submit(client: TestClient, auth: Auth, org: str = SENDER, **overrides: Any) -> str:
    response = client.post("/v1/referrals", json=body(from_org=org, **overrides), headers=auth(org, "intake"))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def listed(client: TestClient, auth: Auth, query: str, org: str = SENDER, role: str = "intake") -> Any:
    return client.get(f"/v1/referrals?{query}", headers=auth(org, role))


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("query", ["to_org=%00", "from_org=a%00b", "to_org=org%20b", "from_org=" + "o" * 64])
def test_an_organisation_filter_that_is_no_organisation_id_is_a_422_naming_it(
    store_url: str,
    query: str,
    service_settings: Callable[..., Any],
    client_for: Callable[..., TestClient],
    auth: Auth,
) -> None:
    """A NUL byte reached PostgreSQL (500): the filters are declared with the organisation id pattern."""
    app = build_app(service_settings(ReferralSettings, event_store=store_url))
    app.state.application.clock = ManualClock(T0)
    app.state.gateways = lambda token: Gateways(FakeDirectory(), FakeGate())
    client = client_for(app)
    submit(client, auth)
    response = listed(client, auth, query)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == query.split("=")[0]
    assert len(listed(client, auth, f"to_org={RECEIVER}").json()["items"]) == 1


def test_cursors_tell_nothing_of_other_organisations_referrals(service: ReferralService, auth: Auth) -> None:
    mine = [submit(service.client, auth)]
    others = [submit(service.client, auth, org=OTHERS, to_org="org-y") for _ in range(5)]
    mine += [submit(service.client, auth), submit(service.client, auth)]
    first = listed(service.client, auth, "limit=1").json()
    second = listed(service.client, auth, f"limit=1&cursor={first['next_cursor']}").json()
    cursors = [first["next_cursor"], second["next_cursor"]]
    assert [first["items"][0]["id"], second["items"][0]["id"]] == mine[:2] and others
    for cursor in cursors:
        assert not cursor.isdigit()
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        assert all(struct.pack(">Q", position) not in raw for position in (1, 7)), "no position in the clear"
    again = listed(service.client, auth, "limit=1").json()["next_cursor"]
    assert again != first["next_cursor"], "the same position sealed twice looks different"
    rest = listed(service.client, auth, f"limit=5&cursor={again}").json()
    assert [r["id"] for r in rest["items"]] == mine[1:] and rest["next_cursor"] is None


def test_a_cursor_opens_only_for_its_listing_and_organisation(service: ReferralService, auth: Auth) -> None:
    for _ in range(3):
        submit(service.client, auth)
    cursor = listed(service.client, auth, "limit=1").json()["next_cursor"]
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    for query, org in [
        (f"cursor={tampered}", SENDER),
        (f"cursor={cursor}&to_org={RECEIVER}", SENDER),  # another filter
        (f"cursor={cursor}&status=SUBMITTED", SENDER),
        (f"cursor={cursor}", RECEIVER),  # another organisation
        ("cursor=1", SENDER),  # a position in the clear, as cursors were
        ("cursor=" + "A" * 128, SENDER),
    ]:
        response = listed(service.client, auth, query, org=org)
        assert response.status_code == 422, (query, org, response.text)
        assert response.json()["errors"][0]["field"] == "cursor"
    auditor = listed(service.client, auth, f"cursor={cursor}", role="auditor")
    assert auditor.status_code == 200, "another role of the same organisation, the same listing: it opens"
    assert listed(service.client, auth, "cursor=%%%").status_code == 422


def test_a_position_past_a_billion_makes_a_cursor_like_any_other() -> None:
    """The pattern cursors had (`^[0-9]{1,9}$`) refused the service's own cursors past 10^9."""
    cursors = ListCursors.derived_from(b"\1" * 32, LIST_CURSORS)
    bound = Listing(scope=SENDER, to_org=RECEIVER).cursor_binding(SENDER)
    for position in (1, 10**9 + 1, 2**63):
        assert cursors.open(cursors.seal(position, bound), bound) == position
    other_key = ListCursors.derived_from(b"\2" * 32, LIST_CURSORS)
    with pytest.raises(CursorInvalidError):
        other_key.open(cursors.seal(5, bound), bound)


def test_a_page_is_the_json_of_the_referrals_as_they_stand_and_as_each_is_shown_alone(
    service: ReferralService, auth: Auth
) -> None:
    """A page returns the documents the view keeps: they must follow every change (steps, a plan, meetings, a
    clock's flags, which move the version) and be, byte for byte, what the page's model makes of the referrals."""
    refused, followed = submit(service.client, auth), following(service, auth, "SOCIAL_CONSULT")
    assert service.client.post(
        f"/v1/referrals/{refused}/refuse", json={"reason": "hors mandat"}, headers=auth(RECEIVER, "intake")
    ).is_success
    assert plan(service, auth, followed, 6).is_success and meet(service, auth, followed).is_success
    waiting = submit(service.client, auth, to_service="AAOR")
    service.clock.advance(timedelta(days=20))
    application = service.app.state.application
    assert application.tick() > 0
    first = listed(service.client, auth, "limit=2")
    rest = listed(service.client, auth, f"limit=2&cursor={first.json()['next_cursor']}")
    for response, ids, cursor in ((first, [refused, followed], first.json()["next_cursor"]), (rest, [waiting], None)):
        assert response.headers["content-type"] == "application/json"
        referrals = [application.get_referral(uuid.UUID(rid)) for rid in ids]
        expected = ReferralPage(items=[ReferralPublic.of(r) for r in referrals], next_cursor=cursor)
        assert response.content == expected.model_dump_json(by_alias=True).encode()
        for item, rid in zip(response.json()["items"], ids, strict=True):
            assert item == service.client.get(f"/v1/referrals/{rid}", headers=auth(SENDER, "intake")).json()
    assert [item["version"] for item in first.json()["items"]][1] > 4, "the flags moved the version"
