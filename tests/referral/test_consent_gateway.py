"""Record information through the HTTP gateway to the consent service: the real consent service in process (what it
registers), and its answers as the referral service passes them on (a fake consent API: httpx MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient

from services.common.auth import load_dev_key
from services.common.clock import ManualClock
from services.consent import inbound
from services.consent.main import build_app as build_consent
from services.consent.settings import ConsentSettings
from services.contract.codes import InfoCategory, OrgKind, ServiceCode
from services.referral.gateways import HttpDisclosureGate, ServiceIdentity, pooled_client
from services.referral.ports import Coverage, Gateways
from tests.consent.conftest import agreement_event, organisation_event
from tests.helpers import demo_consent
from tests.referral.conftest import T0, ReferralService, body
from tests.referral.fakes import FakeDirectory

Auth = Callable[..., dict[str, str]]
SENDER, RECEIVER = "csss-a", "org-b"


def information(service: ReferralService, auth: Auth, rid: str, query: str = "") -> httpx.Response:
    return service.client.get(f"/v1/referrals/{rid}/information{query}", headers=auth(RECEIVER, "clinician"))


def submit(service: ReferralService, auth: Auth, **overrides: Any) -> str:
    response = service.client.post("/v1/referrals", json=body(**overrides), headers=auth(SENDER, "intake"))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_the_register_holds_only_disclosures_that_happen(
    service: ReferralService,
    auth: Auth,
    service_settings: Callable[..., Any],
    dev_key_file: Path,
    client_for: Callable[..., TestClient],
) -> None:
    """A consent covers health information; the referral holds contact details only: asking for health information
    releases nothing and registers nothing (the consent service was asked for it, and registered it, before)."""
    consent = client_for(build_consent(service_settings(ConsentSettings), clock=ManualClock(T0)))
    identity = ServiceIdentity(dev_key=load_dev_key(dev_key_file))
    directory = FakeDirectory()
    service.app.state.gateways = lambda token: Gateways(directory, HttpDisclosureGate(consent, identity, token))
    valid_from = (T0 - timedelta(days=1)).isoformat()
    granted = consent.post(
        "/v1/consents",
        json=demo_consent("S-0001", RECEIVER, ("CONTACT", "HEALTH"), valid_from=valid_from)
        | {"valid_until": (T0 + timedelta(days=30)).isoformat()},
        headers=auth(SENDER, "intake"),
    )
    assert granted.status_code == 201, granted.text
    contact_only = submit(service, auth, information={"CONTACT": "555-0100"})
    bare = submit(service, auth, subject_id="S-0002")

    def register() -> list[dict[str, Any]]:
        answer = consent.get("/v1/register", params={"subject_id": "S-0001"}, headers=auth(SENDER, "auditor"))
        assert answer.status_code == 200, answer.text
        entries: list[dict[str, Any]] = answer.json()["items"]
        return entries

    not_held = information(service, auth, contact_only, "?categories=HEALTH")
    assert register() == [], "no disclosure of health information was made: none is registered"
    assert not_held.status_code == 200 and not_held.json()["decision_id"] is None
    nothing = information(service, auth, bare)
    assert nothing.status_code == 200, "nothing to ask for is no outage of the consent service"
    assert nothing.json()["information"] == {} and nothing.json()["decision_id"] is None

    released = information(service, auth, contact_only, "?categories=HEALTH,CONTACT")
    assert released.status_code == 200, released.text
    assert released.json()["information"] == {"CONTACT": "555-0100"}
    [entry] = register()
    assert entry["categories"] == ["CONTACT"] and entry["decision_id"] == released.json()["decision_id"]


def problem(status: int, slug: str, detail: str) -> httpx.Response:
    document = {"type": f"urn:ca.qc.rls:problem:{slug}", "title": slug, "status": status, "detail": detail}
    return httpx.Response(status, json=document, headers={"Content-Type": "application/problem+json"})


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused")


@pytest.mark.parametrize(
    ("answer", "status", "slug"),
    [
        (lambda r: problem(403, "forbidden", "the requester must be a worker of the recipient"), 403, "forbidden"),
        (
            lambda r: problem(422, "validation", "at: a disclosure cannot be dated in the future"),
            422,
            "disclosure-rejected",
        ),
        (lambda r: problem(409, "idempotency-key-reused", "used for another request"), 422, "disclosure-rejected"),
        (lambda r: problem(401, "unauthenticated", "token expired"), 503, "dependency-unavailable"),
        (lambda r: problem(500, "internal", "Internal error"), 503, "dependency-unavailable"),
        (lambda r: httpx.Response(502, text="bad gateway"), 503, "dependency-unavailable"),
        (unreachable, 503, "dependency-unavailable"),
    ],
)
def test_the_consent_services_answers_about_the_request_are_no_outage(
    service: ReferralService,
    auth: Auth,
    dev_key_file: Path,
    answer: Callable[[httpx.Request], httpx.Response],
    status: int,
    slug: str,
) -> None:
    """Its 403 (about the requester) and other 4xx (about the request) are the referral service's 4xx: asking again
    unchanged gets the same answer. Its 401 (about the service's own token), 5xx and silence are a 503: retry."""
    consent = pooled_client("http://consent.test", transport=httpx.MockTransport(answer))
    identity = ServiceIdentity(dev_key=load_dev_key(dev_key_file))
    directory = FakeDirectory()
    service.app.state.gateways = lambda token: Gateways(directory, HttpDisclosureGate(consent, identity, token))
    rid = submit(service, auth, information={"CONTACT": "555-0100"})
    response = information(service, auth, rid)
    assert response.status_code == status, response.text
    assert response.json()["type"].endswith(f":{slug}")
    if status < 500:
        assert "consent service" in response.json()["detail"]
    assert "555-0100" not in response.text


ON_BEHALF = "CRISIS_24_7"
"""The service the receiver provides on the sender's behalf under the agreement below (art. 108)."""
CLAUSE = ("IDENTIFICATION", "REFERRAL_REASON")
"""The categories the agreement's information clause carries."""
HELD = {
    "IDENTIFICATION": "Synthetic Person 0108",
    "CONTACT": "555-0108",
    "REFERRAL_REASON": "synthetic reason",
    "ASSESSMENT": "synthetic assessment",
    "HEALTH": "synthetic health note",
}


def consent_under_the_agreement(client_for: Callable[..., TestClient], settings: ConsentSettings) -> TestClient:
    """The real consent service, knowing a service agreement under which the receiver provides `ON_BEHALF` on the
    sender's behalf, its clause carrying `CLAUSE`."""
    consent = client_for(build_consent(settings, clock=ManualClock(T0)))
    before = T0 - timedelta(days=30)
    handle = inbound.handler(consent.app.state.application)  # type: ignore[attr-defined]
    for offset, event in enumerate(
        (
            organisation_event(SENDER, OrgKind.CSSS, before),
            organisation_event(RECEIVER, OrgKind.ESTABLISHMENT, before),
            agreement_event(
                "activated",
                before,
                parties=(SENDER, RECEIVER),
                information_sharing=tuple(InfoCategory[c] for c in CLAUSE),
                on_behalf=((SENDER, (ServiceCode[ON_BEHALF],)),),
            ),
        ),
        start=1,
    ):
        handle(event, Tracking("rls.agreements.v1#0", offset))
    return consent


def reach(service: ReferralService, consent: httpx.Client, dev_key_file: Path) -> None:
    """The referral service asks `consent` for disclosures; its directory says what the agreements service says of
    the agreement: the receiver provides the service on the sender's behalf, the clause carrying `CLAUSE`."""
    coverage = Coverage("ag-108", "SERVICE_108", on_behalf=True, clause_categories=CLAUSE)
    directory = FakeDirectory(coverages={(SENDER, RECEIVER): coverage})
    identity = ServiceIdentity(dev_key=load_dev_key(dev_key_file))
    service.app.state.gateways = lambda token: Gateways(directory, HttpDisclosureGate(consent, identity, token))


@pytest.fixture
def consent_on_behalf(
    service: ReferralService,
    service_settings: Callable[..., Any],
    dev_key_file: Path,
    client_for: Callable[..., TestClient],
) -> TestClient:
    """The real consent service (the LSSSS pinned) knowing the agreement, and the referral service reaching it."""
    consent = consent_under_the_agreement(client_for, service_settings(ConsentSettings, regime="LSSSS_17_27_3"))
    reach(service, consent, dev_key_file)
    return consent


def consent_to_the_referral(
    consent: TestClient, auth: Auth, categories: tuple[str, ...], valid_until: datetime | None = None
) -> str:
    """The person's consent as the console records it from the referral page: purpose REFERRAL, to the receiver."""
    document = demo_consent("S-0001", RECEIVER, categories, valid_from=(T0 - timedelta(days=1)).isoformat())
    if valid_until:
        document["valid_until"] = valid_until.isoformat()
    granted = consent.post("/v1/consents", json=document, headers=auth(SENDER, "intake"))
    assert granted.status_code == 201, granted.text
    return str(granted.json()["id"])


def register_of(consent: TestClient, auth: Auth) -> list[dict[str, Any]]:
    answer = consent.get("/v1/register", params={"subject_id": "S-0001"}, headers=auth(SENDER, "auditor"))
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()["items"]
    return entries


def test_the_persons_consent_to_the_referral_releases_what_the_agreements_clause_does_not(
    service: ReferralService, auth: Auth, consent_on_behalf: TestClient
) -> None:
    """On a referral to a service provided on the sender's behalf, the clause releases its categories (art. 108) and
    the person's consent to this referral the others it names: two decisions, two register entries, and nothing
    registered for what neither permits."""
    consent_id = consent_to_the_referral(consent_on_behalf, auth, ("IDENTIFICATION", "CONTACT", "ASSESSMENT"))
    rid = submit(service, auth, to_service=ON_BEHALF, information=HELD)

    released = information(service, auth, rid)
    assert released.status_code == 200, released.text
    body = released.json()
    assert body["information"] == {c: HELD[c] for c in ("IDENTIFICATION", "CONTACT", "REFERRAL_REASON", "ASSESSMENT")}
    assert body["denied_categories"] == ["HEALTH"]
    on_behalf, by_consent = body["decisions"]
    assert (on_behalf["purpose"], on_behalf["permitted_categories"]) == ("SERVICE_ON_BEHALF", list(CLAUSE))
    assert (by_consent["purpose"], by_consent["permitted_categories"]) == ("REFERRAL", ["CONTACT", "ASSESSMENT"])
    assert by_consent["denied_categories"] == ["HEALTH"]
    assert (body["decision_id"], body["register_entry_id"]) == (
        on_behalf["decision_id"],
        on_behalf["register_entry_id"],
    ), "the first decision stays where a client of the single decision reads it"
    routes = {b["route"]: b for b in body["basis"]}
    assert routes["A-3"]["agreement_id"] == "ag-108"
    assert [b["consent_id"] for b in body["basis"] if b.get("consent_id")] == [consent_id]

    entries = register_of(consent_on_behalf, auth)
    assert [(e["decision_id"], e["purpose"], e["categories"]) for e in entries] == [
        (on_behalf["decision_id"], "SERVICE_ON_BEHALF", list(CLAUSE)),
        (by_consent["decision_id"], "REFERRAL", ["CONTACT", "ASSESSMENT"]),
    ]
    assert [e["register_entry_id"] for e in entries] == [d["register_entry_id"] for d in (on_behalf, by_consent)]
    assert not [e for e in entries if "HEALTH" in e["categories"]], "nothing registered for what was not released"


def test_what_neither_the_clause_nor_the_consent_covers_is_refused_with_the_consents_reasons(
    service: ReferralService, auth: Auth, consent_on_behalf: TestClient
) -> None:
    """The worker reads why the person's consent to this referral does not cover the categories (the purpose they
    consented to), not why the agreement's clause does not: a purpose nobody showed them."""
    consent_to_the_referral(consent_on_behalf, auth, ("IDENTIFICATION",))
    rid = submit(service, auth, to_service=ON_BEHALF, information={c: HELD[c] for c in ("CONTACT", "HEALTH")})

    refused = information(service, auth, rid)
    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert problem["denied_categories"] == ["CONTACT", "HEALTH"]
    decision = consent_on_behalf.get(f"/v1/decisions/{problem['decision_id']}", headers=auth(SENDER, "auditor"))
    assert decision.status_code == 200, decision.text
    assert decision.json()["input"]["purpose"] == "REFERRAL"
    assert problem["detail"] == decision.json()["explanation"]
    assert HELD["CONTACT"] not in refused.text
    assert register_of(consent_on_behalf, auth) == [], "nothing released, nothing registered"


def test_a_restriction_of_disclosures_on_the_institutions_behalf_is_not_bypassed_by_the_consent_to_the_referral(
    service: ReferralService,
    auth: Auth,
    service_settings: Callable[..., Any],
    dev_key_file: Path,
    client_for: Callable[..., TestClient],
) -> None:
    """The person consented to the referral of the clause's categories, then restricted disclosures to the receiver
    for services provided on the sender's behalf (LRSSS): the restriction bars the clause's decision, and the
    categories it barred are not asked again for REFERRAL (review, 2026-12-02: that re-ask released them to the same
    receiver, against the person's restriction of this very flow)."""
    consent = consent_under_the_agreement(client_for, service_settings(ConsentSettings, regime="LRSSS"))
    reach(service, consent, dev_key_file)
    consent_to_the_referral(consent, auth, CLAUSE, valid_until=T0 + timedelta(days=60))
    restriction = {
        "subject_id": "S-0001",
        "recipients": [{"org_id": RECEIVER}],
        "purposes": ["SERVICE_ON_BEHALF"],
        "valid_from": (T0 - timedelta(days=1)).isoformat(),
    }
    restricted = consent.post("/v1/restrictions", json=restriction, headers=auth(SENDER, "intake"))
    assert restricted.status_code == 201, restricted.text
    rid = submit(service, auth, to_service=ON_BEHALF, information={c: HELD[c] for c in CLAUSE})

    refused = information(service, auth, rid)
    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert problem["denied_categories"] == list(CLAUSE)
    decision = consent.get(f"/v1/decisions/{problem['decision_id']}", headers=auth(SENDER, "auditor")).json()
    assert decision["input"]["purpose"] == "SERVICE_ON_BEHALF", "the only decision asked: the clause's"
    assert problem["detail"] == decision["explanation"]
    assert HELD["IDENTIFICATION"] not in refused.text
    assert register_of(consent, auth) == [], "nothing released, nothing registered"


def answering_except(
    consent: TestClient, purpose: str, failure: Callable[[httpx.Request], httpx.Response]
) -> httpx.Client:
    """The consent service as the referral service reaches it over HTTP, except that its disclosure requests for
    `purpose` meet `failure` (the service restarting between the two decisions of a read)."""

    def route(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["purpose"] == purpose:
            return failure(request)
        headers = {name: value for name, value in request.headers.items() if name != "host"}
        answer = consent.request(request.method, request.url.path, headers=headers, content=request.content)
        return httpx.Response(answer.status_code, json=answer.json())

    return pooled_client("http://consent.test", transport=httpx.MockTransport(route))


def timed_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.mark.parametrize(
    "failure", [lambda r: httpx.Response(503, text="restarting"), timed_out], ids=["503", "timeout"]
)
def test_when_the_consent_decision_fails_the_clauses_registered_disclosure_is_released(
    service: ReferralService,
    auth: Auth,
    consent_on_behalf: TestClient,
    dev_key_file: Path,
    failure: Callable[[httpx.Request], httpx.Response],
) -> None:
    """The clause's decision permitted IDENTIFICATION, and the consent service registered that disclosure; then it
    failed on the REFERRAL request for CONTACT. The read releases what is registered and reports CONTACT undecided
    (review, 2026-12-02: the read failed with the disclosure registered, and the worker's retry registered it again)."""
    consent_to_the_referral(consent_on_behalf, auth, ("CONTACT",))
    reach(service, answering_except(consent_on_behalf, "REFERRAL", failure), dev_key_file)
    rid = submit(service, auth, to_service=ON_BEHALF, information={c: HELD[c] for c in ("IDENTIFICATION", "CONTACT")})

    first = information(service, auth, rid)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["information"] == {"IDENTIFICATION": HELD["IDENTIFICATION"]}
    assert body["denied_categories"] == ["CONTACT"]
    assert (body["undecided"]["purpose"], body["undecided"]["categories"]) == ("REFERRAL", ["CONTACT"])
    assert "consent service" in body["undecided"]["explanation"]
    [entry] = register_of(consent_on_behalf, auth)
    assert (entry["purpose"], entry["categories"]) == ("SERVICE_ON_BEHALF", ["IDENTIFICATION"])
    assert entry["register_entry_id"] == body["register_entry_id"], "what is registered is what was released"

    reach(service, consent_on_behalf, dev_key_file)  # the consent service answers again
    again = information(service, auth, rid)
    assert again.json()["information"] == {c: HELD[c] for c in ("IDENTIFICATION", "CONTACT")}
    assert again.json()["undecided"] is None
