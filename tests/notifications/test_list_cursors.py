"""The cursors of the notifications listings (`GET /v1/subscriptions`'s `next_cursor`, the deliveries' `Link`): the
position of the last item listed in the store's log, which every organisation shares, sealed
(`services.common.cursors`) and bound to the caller's organisation and the listing's filters. In the clear, the gap
between two of an organisation's own cursors counted the events recorded meanwhile for the others."""

from __future__ import annotations

import base64
import struct
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.notifications.conftest import SECRET, Feed, Story, application, org

Auth = Callable[..., dict[str, str]]


def webhook(org_id: str) -> dict[str, Any]:
    return {"org_id": org_id, "channel": "WEBHOOK", "url": "https://partner.example/hooks", "secret": SECRET}


def subscribe(client: TestClient, auth: Auth, org_id: str) -> str:
    created = client.post("/v1/subscriptions", json=webhook(org_id), headers=auth(org_id, "admin"))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def next_url(link: str | None) -> str | None:
    return None if link is None else link[1 : link.index(">")]


def cursor_of(url: str) -> str:
    return url.split("cursor=")[1].split("&")[0]


def page_deliveries(client: TestClient, headers: dict[str, str], url: str) -> tuple[list[str], list[str]]:
    """Every page of a deliveries listing, following `Link`: the delivery ids and the cursors handed out."""
    ids: list[str] = []
    cursors: list[str] = []
    next_page: str | None = url
    while next_page is not None:
        page = client.get(next_page, headers=headers)
        assert page.status_code == 200, page.text
        ids += [d["delivery_id"] for d in page.json()]
        next_page = next_url(page.headers.get("Link"))
        if next_page is not None:
            cursors.append(cursor_of(next_page))
    return ids, cursors


def in_the_clear(cursor: str, positions: list[int]) -> bool:
    if cursor.isdigit():
        return True
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    return any(struct.pack(">Q", p) in raw for p in positions)


def my_cursors(client: TestClient, auth: Auth, other_referrals: int) -> tuple[list[str], list[str], list[int]]:
    """The reviewer's measure: one delivery of mine, `other_referrals` of another organisation's, two more of mine;
    then my deliveries paged one by one. Returns my delivery ids, the cursors and the log positions behind them."""
    me, other, sender = org("me"), org("other"), org("csss")
    mine = subscribe(client, auth, me)
    subscribe(client, auth, other)
    feed = Feed(application(client))
    feed(Story(sender, me).submitted())
    for _ in range(other_referrals):  # traffic of another organisation only
        feed(*Story(sender, other).lifecycle())
    feed(Story(sender, me).submitted(), Story(sender, me).submitted())
    ids, cursors = page_deliveries(client, auth(me, "admin"), f"/v1/subscriptions/{mine}/deliveries?limit=1")
    scheduled = application(client).list_deliveries(me, uuid.UUID(mine))
    assert ids == [str(d.id) for d in scheduled], "every delivery once, in order"
    return ids, cursors, [d.seq for d in scheduled]


def test_an_organisations_cursors_tell_nothing_of_the_others_traffic(
    make_client: Callable[[], TestClient], auth: Auth
) -> None:
    quiet_ids, quiet, quiet_positions = my_cursors(make_client(), auth, 0)
    busy_ids, busy, busy_positions = my_cursors(make_client(), auth, 5)
    assert busy_positions[1] - busy_positions[0] > quiet_positions[1] - quiet_positions[0], "the others' traffic"
    # every delivery once, in order, one a page; two cursors between three pages
    assert (len(quiet_ids), len(set(quiet_ids)), len(quiet)) == (3, 3, 2)
    assert (len(busy_ids), len(set(busy_ids)), len(busy)) == (3, 3, 2)
    # opaque, and all of one length whatever happened meanwhile: nothing to subtract
    assert len({len(c) for c in quiet + busy}) == 1
    assert not any(in_the_clear(c, quiet_positions) for c in quiet)
    assert not any(in_the_clear(c, busy_positions) for c in busy)


def test_subscriptions_cursors_are_sealed_and_page_every_subscription_once(
    make_client: Callable[[], TestClient], auth: Auth
) -> None:
    client = make_client()
    me, other = org(), org()
    ids = []
    for _ in range(4):
        ids.append(subscribe(client, auth, me))
        subscribe(client, auth, other)  # another organisation's subscriptions between mine
    listed: list[str] = []
    cursors: list[str] = []
    cursor: str | None = None
    while True:
        query = "?limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = client.get("/v1/subscriptions" + query, headers=auth(me, "admin")).json()
        listed += [s["id"] for s in page["items"]]
        cursor = page.get("next_cursor")
        if cursor is None:
            break
        cursors.append(cursor)
    assert listed == ids
    positions = [s.seq for s in application(client).list_subscriptions(me)]
    assert len({len(c) for c in cursors}) == 1 and not any(in_the_clear(c, positions) for c in cursors)


def test_a_cursor_opens_only_for_its_organisation_listing_and_filters(
    make_client: Callable[[], TestClient], auth: Auth
) -> None:
    client = make_client()
    me, them, sender = org(), org(), org()
    mine = subscribe(client, auth, me)
    theirs = subscribe(client, auth, them)
    feed = Feed(application(client))
    for _ in range(3):
        feed(Story(sender, me).submitted(), Story(sender, them).submitted())
    deliveries = f"/v1/subscriptions/{mine}/deliveries"
    link = client.get(deliveries + "?limit=1", headers=auth(me, "admin")).headers["Link"]
    cursor = cursor_of(next_url(link) or "")
    subscribe(client, auth, me)
    subscriptions_cursor = client.get("/v1/subscriptions?limit=1", headers=auth(me, "admin")).json()["next_cursor"]
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    for url, caller in [
        (f"{deliveries}?cursor={tampered}", me),
        (f"{deliveries}?cursor={cursor}&status=PENDING", me),  # another filter
        (f"/v1/subscriptions/{theirs}/deliveries?cursor={cursor}", them),  # another organisation, its own listing
        (f"{deliveries}?cursor={cursor}", them),  # another organisation
        (f"{deliveries}?cursor={subscriptions_cursor}", me),  # another listing's cursor
        (f"/v1/subscriptions?cursor={cursor}", me),
        (f"/v1/subscriptions?cursor={subscriptions_cursor}", them),
        (f"{deliveries}?cursor=1", me),  # a position in the clear, as cursors were
        ("/v1/subscriptions?cursor=1", me),
    ]:
        response = client.get(url, headers=auth(caller, "admin"))
        assert response.status_code == 422, (url, response.text)
        assert response.json()["errors"][0]["field"] == "cursor", url
    # the same organisation's other manager, the same listing and filters: it opens
    assert client.get(f"{deliveries}?cursor={cursor}", headers=auth(me, "coordinator")).status_code == 200
    assert client.get(f"/v1/subscriptions?cursor={subscriptions_cursor}", headers=auth(me, "coordinator")).json()[
        "items"
    ]
