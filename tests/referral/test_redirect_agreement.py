"""A redirection puts the referral under the agreement covering its new receiver (none: an orientation), looked up as
on submission: the referral's view, its integration events and the auditor's state rebuilt from them name it.
Redirections stored before keep theirs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from eventsourcing.persistence import StoredEvent

from services.audit.states import referral_state
from services.referral.domain import Referral, Step
from services.referral.gateways import HttpDirectory, TtlCache
from services.referral.outbound import ReferralOutbound
from services.referral.ports import Coverage
from tests.audit.conftest import rows_of, stored_messages
from tests.referral.conftest import T0, ReferralService
from tests.referral.fakes import FakeDirectory
from tests.referral.test_clocks import make_app, submission
from tests.referral.test_lifecycle import RECEIVER, SENDER, act, submit

Auth = Callable[..., dict[str, str]]
NEW_RECEIVER = "org-c"


@pytest.mark.parametrize(
    "covering",
    [Coverage("agr-new", "COLLABORATION"), Coverage(None, None)],
    ids=["an agreement covers the new receiver", "no agreement covers it"],
)
def test_a_redirected_referral_is_under_the_agreement_covering_its_new_receiver(
    service: ReferralService, auth: Auth, covering: Coverage
) -> None:
    service.directory.coverages[(SENDER, RECEIVER)] = Coverage("agr-first", "SERVICE_108")
    service.directory.coverages[(SENDER, NEW_RECEIVER)] = covering
    rid = submit(service, auth)["id"]
    redirected = act(service, auth, rid, "redirect", to_org=NEW_RECEIVER, to_service="AAOR")
    assert redirected.status_code == 200, redirected.text
    assert act(service, auth, rid, "accept", NEW_RECEIVER).status_code == 200

    view = service.client.get(f"/v1/referrals/{rid}", headers=auth(NEW_RECEIVER, "clinician")).json()
    assert (view["agreement_id"], view["agreement_kind"]) == (covering.agreement_id, covering.kind)
    assert view["orientation_only"] is (covering.agreement_id is None)
    app = service.app.state.application
    messages = stored_messages(
        app, ReferralOutbound("http://referral.test", lambda i, v: app.repository.get(i, version=v))
    )
    events = {m.event.type.removeprefix("ca.qc.rls.referral.").removesuffix(".v1"): m.event.data for m in messages}
    assert events["submitted"]["agreement_id"] == "agr-first"
    assert events["redirected"]["agreement_id"] == events["accepted"]["agreement_id"] == covering.agreement_id
    audited = referral_state(rows_of(messages), T0 + timedelta(days=1))
    assert audited is not None
    assert (audited["agreement_id"], audited["orientation_only"]) == (view["agreement_id"], view["orientation_only"])


def test_a_redirection_stored_before_it_recorded_an_agreement_keeps_the_previous_one() -> None:
    app = make_app()
    directory = FakeDirectory(coverages={("csss-a", "org-b"): Coverage("agr-first", "SERVICE_108")})
    referral, _ = app.submit(submission("AAOR"), "worker", None, directory)
    redirect = Step("org-b", "worker", referral.submitted_at, to_org=NEW_RECEIVER, to_service="AAOR")
    app.redirect(referral.id, redirect, None, FakeDirectory())
    assert app.get_referral(referral.id).agreement_id is None

    codec = app.mapper.transcoder
    submitted, redirected = [app.mapper.to_stored_event(e) for e in app.repository.event_store.get(referral.id)]
    state = {k: v for k, v in codec.decode(redirected.state).items() if k not in ("covering", "class_version")}
    v1 = StoredEvent(redirected.originator_id, redirected.originator_version, redirected.topic, codec.encode(state))
    loaded: Referral | None = None
    for stored in (submitted, v1):
        loaded = app.mapper.to_domain_event(stored).mutate(loaded)
    assert loaded is not None
    assert (loaded.to_org, loaded.status) == (NEW_RECEIVER, "REDIRECTED")
    assert (loaded.agreement_id, loaded.agreement_kind) == ("agr-first", "SERVICE_108")


def test_the_directory_caches_answers_for_now_only_for_now() -> None:
    """A backdated redirect asks about its own time: the answer for now cached a moment before does not serve for it,
    nor does its answer serve for the next question about now."""
    asked: list[str] = []

    def agreements(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["at"][:4])
        year = datetime.fromisoformat(request.url.params["at"]).year
        return httpx.Response(200, json={"agreement_id": f"agr-{year}", "kind": "SERVICE_108"})

    client = httpx.Client(base_url="http://agreements", transport=httpx.MockTransport(agreements))
    directory = HttpDirectory(client, "token", TtlCache(10))
    now = datetime.now(UTC)
    before = now.replace(year=now.year - 1)
    answers = [directory.coverage("csss-a", "org-c", "AAOR", at).agreement_id for at in (now, before, now, before)]
    assert answers == [f"agr-{now.year}", f"agr-{before.year}", f"agr-{now.year}", f"agr-{before.year}"]
    assert len(asked) == 2  # each answer cached under its own time


def closed(service: ReferralService, auth: Auth) -> tuple[str, dict[str, str]]:
    rid = submit(service, auth)["id"]
    assert act(service, auth, rid, "accept").status_code == 200
    assert act(service, auth, rid, "close", outcome="SERVICES_RENDERED").status_code == 200
    return rid, {}


def received(service: ReferralService, auth: Auth) -> tuple[str, dict[str, str]]:
    rid = submit(service, auth)["id"]
    assert act(service, auth, rid, "receive").status_code == 200
    return rid, {}


def stale(service: ReferralService, auth: Auth) -> tuple[str, dict[str, str]]:
    rid, _ = received(service, auth)
    return rid, {"If-Match": "1"}


@pytest.mark.parametrize(
    ("arrange", "org", "target", "status"),
    [
        (received, SENDER, (NEW_RECEIVER, "AAOR"), 403),
        (closed, RECEIVER, (NEW_RECEIVER, "AAOR"), 409),
        (stale, RECEIVER, (NEW_RECEIVER, "AAOR"), 409),
        (received, RECEIVER, (RECEIVER, "SOCIAL_CONSULT"), 422),
    ],
    ids=["the caller is not the receiver", "the referral is closed", "If-Match is stale", "the same receiver"],
)
def test_a_redirection_refused_by_the_referral_is_refused_alike_when_the_agreements_service_is_down(
    service: ReferralService,
    auth: Auth,
    arrange: Callable[[ReferralService, Auth], tuple[str, dict[str, str]]],
    org: str,
    target: tuple[str, str],
    status: int,
) -> None:
    """The referral's own refusals come before the agreements service is asked: it being down turns no 403, 409 or
    422 into a 503 (retrying would not help), and it is not asked at all."""
    rid, headers = arrange(service, auth)
    to_org, to_service = target

    def redirect() -> Any:
        return service.client.post(
            f"/v1/referrals/{rid}/redirect",
            json={"to_org": to_org, "to_service": to_service},
            headers=auth(org, "clinician") | headers,
        )

    service.directory.down = True
    asked = service.directory.asked
    down = redirect()
    assert service.directory.asked == asked
    service.directory.down = False
    up = redirect()
    assert (down.status_code, down.json()) == (up.status_code, up.json())
    assert up.status_code == status, up.text


def test_an_allowed_redirection_waits_for_the_agreements_service(service: ReferralService, auth: Auth) -> None:
    rid, _ = received(service, auth)
    service.directory.down = True
    down = act(service, auth, rid, "redirect", to_org=NEW_RECEIVER, to_service="AAOR")
    assert down.status_code == 503, down.text
    assert down.json()["type"].endswith("dependency-unavailable")
    service.directory.down = False
    assert act(service, auth, rid, "redirect", to_org=NEW_RECEIVER, to_service="AAOR").status_code == 200
