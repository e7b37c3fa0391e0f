"""The console in process against fake service APIs (httpx MockTransport): sign-in, CSRF, errors as pages, headers,
the actions a referral's state allows, problem documents shown field by field. No browser, no broker."""

from __future__ import annotations

import html
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from services.common.auth import NETWORK_AUDITOR
from services.common.problems import install_problem_handlers
from services.consent.api_models import CalendarInstant
from services.console import session
from services.console.catalogue import TEXTS
from services.console.main import build_app
from services.console.pages import referrals
from services.console.settings import API_SERVICES, ConsoleSettings
from services.console.web import MAX_FORM_BYTES
from services.contract.codes import InfoCategory
from services.referral.api import DOMAIN_ERRORS as REFERRAL_ERRORS
from services.referral.domain import (
    DependencyUnavailableError,
    ReferralTargetError,
    ReferralTimeError,
    ReferralTransitionError,
    TargetUnknownError,
)
from services.runtime import demo

REFERRAL_ID = "0b6a8a52-7d7e-4a8e-9a51-2d3f3f0c9e11"
NOW = datetime.now(UTC)
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


def referral(status: str = "SUBMITTED", version: int = 1) -> dict[str, Any]:
    return {
        "id": REFERRAL_ID,
        "status": status,
        "version": version,
        "subject_id": "usager-9",
        "from_org": demo.CSSS,
        "from_service": "AAOR",
        "to_org": demo.CRISIS_CENTRE,
        "to_service": "CRISIS_24_7",
        "channel": "PHONE",
        "urgency": "URGENT",
        "reason_code": "FAMILY_CRISIS",
        "accompaniment": "NONE",
        "agreement_id": None,
        "agreement_kind": None,
        "orientation_only": True,
        "submitted_at": (NOW - timedelta(minutes=50)).isoformat(),
        "history": [{"step": "submitted", "at": (NOW - timedelta(minutes=50)).isoformat()}],
    }


CLOCK = {
    "standard": "CRISIS_IMMEDIATE",
    "bound": "PT1H",
    "bound_s": 3600,
    "started_at": (NOW - timedelta(minutes=50)).isoformat(),
    "due_at": (NOW + timedelta(minutes=10)).isoformat(),
    "met_at": None,
    "state": "AT_RISK",
    "responsible_org": demo.CRISIS_CENTRE,
}


class FakeServices:
    """The answers the fake APIs give, and the requests they saw."""

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []
        self.referral = referral()
        self.paths = [f"/v1/referrals/{{referral_id}}/{c}" for c in ("receive", "accept", "refuse", "cancel")]
        self.down: set[str] = set()
        self.answers: dict[tuple[str, str], httpx.Response | Callable[[httpx.Request], httpx.Response]] = {}

    def handler(self, service: str) -> Callable[[httpx.Request], httpx.Response]:
        def handle(request: httpx.Request) -> httpx.Response:
            self.seen.append(request)
            if service in self.down:
                raise httpx.ConnectError("down")
            path = request.url.path
            answer = self.answers.get((request.method, path))
            if answer is not None:
                return answer(request) if callable(answer) else answer
            if path == "/openapi.json":
                return httpx.Response(200, json={"paths": {path: {} for path in self.paths}})
            if path == "/v1/referrals":
                return httpx.Response(200, json={"items": [self.referral], "next_cursor": None})
            if path == f"/v1/referrals/{REFERRAL_ID}":
                return httpx.Response(200, json=self.referral)
            if path == f"/v1/referrals/{REFERRAL_ID}/clocks":
                return httpx.Response(200, json=[CLOCK])
            return httpx.Response(404, json={"type": "urn:ca.qc.rls:problem:not-found", "title": "Not found"})

        return handle


@pytest.fixture
def fake() -> FakeServices:
    return FakeServices()


@pytest.fixture
def console(tmp_path: Path, dev_key_file: Path, fake: FakeServices) -> Iterator[TestClient]:
    settings = ConsoleSettings(
        var_dir=tmp_path, dev_key_file=dev_key_file, **{f"{s}_url": f"http://{s}" for s in API_SERVICES}
    )
    app = build_app(settings)
    app.state.console.clients = {
        s: httpx.AsyncClient(base_url=f"http://{s}", transport=httpx.MockTransport(fake.handler(s)))
        for s in API_SERVICES
    }
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        yield client


def csrf(client: TestClient, path: str = "/connexion") -> str:
    page = client.get(path)
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def sign_in(client: TestClient, org: str, *roles: str) -> None:
    response = client.post(
        "/connexion/dev",
        data={"csrf": csrf(client), "org": org, "roles": list(roles), "sub": "worker-1", "suivant": "/demandes"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/demandes"


def sign_in_speaking(client: TestClient, lang: str, org: str, *roles: str) -> None:
    """Signs in, then chooses the console's language."""
    sign_in(client, org, *roles)
    client.get(f"/langue/{lang}?suivant=/demandes")


def test_pages_need_a_session_and_come_back_after_sign_in(console: TestClient) -> None:
    first = console.get(f"/demandes/{REFERRAL_ID}", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == f"/connexion?suivant=%2Fdemandes%2F{REFERRAL_ID}"


def test_the_session_cookie_is_sealed_secure_httponly_and_lax(console: TestClient) -> None:
    token = csrf(console)
    response = console.post(
        "/connexion/dev",
        data={"csrf": token, "org": demo.CSSS, "roles": ["intake"], "suivant": "/demandes"},
        follow_redirects=False,
    )
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("__Host-rls-session="))
    assert {"Secure", "HttpOnly", "SameSite=lax", "Path=/"} <= {part.strip() for part in cookie.split(";")}
    assert demo.CSSS not in cookie and "eyJ" not in cookie  # neither the organisation nor the token in clear


def test_sign_out_leaves_nothing_of_the_pages_in_the_browser(console: TestClient) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    page = console.get("/demandes").text
    config = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'>', page)
    assert config and json.loads(config.group(1))["historyCacheSize"] == 0  # no page snapshots in sessionStorage
    out = console.post("/deconnexion", data={"csrf": csrf(console, "/demandes")}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["clear-site-data"] == '"cache", "storage"'
    assert console.get("/demandes", follow_redirects=False).headers["location"].startswith("/connexion")


class Later:
    """The session module's clock, `minutes` ahead of the real one."""

    def __init__(self) -> None:
        self.minutes = 0

    def time(self) -> float:
        return time.time() + self.minutes * 60


def test_a_session_unused_for_the_idle_timeout_ends(console: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    later = Later()
    monkeypatch.setattr(session, "time", later)
    for minutes in (20, 45, 70):  # each page opened within 30 minutes of the last keeps the session
        later.minutes = minutes
        assert console.get("/demandes", follow_redirects=False).status_code == 200
    later.minutes = 101
    idle = console.get("/demandes", follow_redirects=False)
    assert idle.status_code == 303 and idle.headers["location"] == "/connexion?suivant=%2Fdemandes&expiree=1"


def test_a_form_without_the_csrf_token_or_from_another_origin_is_refused(console: TestClient) -> None:
    csrf(console)
    forged = console.post("/connexion/dev", data={"csrf": "x" * 43, "org": demo.CSSS, "roles": ["intake"]})
    assert forged.status_code == 403 and "ne vient pas de cette console" in forged.text
    token = csrf(console)
    elsewhere = console.post(
        "/connexion/dev",
        data={"csrf": token, "org": demo.CSSS, "roles": ["intake"]},
        headers={"Origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403


def test_a_body_larger_than_the_console_reads_is_refused_before_it_is_read(console: TestClient) -> None:
    """Unsigned, without a CSRF token: refused by its length before the form is parsed (it was parsed whole, then
    refused by the CSRF check, and the memory it took stayed with the process)."""
    csrf(console)
    field = b"x=" + b"a" * (MAX_FORM_BYTES // 4)
    declared = console.post("/deconnexion", content=b"&".join([field] * 5), headers=FORM_TYPE)
    assert declared.status_code == 413, declared.status_code
    assert "trop volumineux" in declared.text and declared.headers["connection"] == "close"
    assert declared.headers["cache-control"] == "no-store"  # a console page, with its headers
    chunked = console.post("/deconnexion", content=iter([field] * 5), headers=FORM_TYPE)  # no length said
    assert chunked.status_code == 413 and "trop volumineux" in chunked.text


def test_the_largest_referral_form_a_browser_sends_is_read(console: TestClient, fake: FakeServices) -> None:
    """11 categories of 20,000 characters (the form's maxlength), each encoded as 9 bytes by the browser."""
    sign_in(console, demo.CSSS, "intake")
    fake.answers[("POST", "/v1/referrals")] = httpx.Response(201, json={"id": REFERRAL_ID})
    form = {"csrf": csrf(console, "/demandes/nouvelle"), "form_key": REFERRAL_ID, "subject_id": "usager-9"}
    information = {f"information.{c.value}": "€" * 20_000 for c in InfoCategory}
    sent = console.post("/demandes/nouvelle", data={**form, **information}, follow_redirects=False)
    assert sent.status_code == 303, sent.status_code
    body = next(r for r in fake.seen if r.method == "POST" and r.url.path == "/v1/referrals")
    assert len(json.loads(body.content)["information"]) == len(InfoCategory)


def test_a_form_posted_after_the_session_expired_comes_back_to_its_page_after_sign_in(console: TestClient) -> None:
    console.cookies.set("__Host-rls-session", "expired")
    response = console.post(
        f"/demandes/{REFERRAL_ID}/actions/accept",
        data={"csrf": csrf(console), "version": "1"},
        headers={"Referer": f"https://testserver/demandes/{REFERRAL_ID}"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/connexion?suivant=%2Fdemandes%2F{REFERRAL_ID}&expiree=1"


def test_an_unknown_address_or_method_is_a_console_page(console: TestClient) -> None:
    unknown = console.get("/nulle-part")
    assert unknown.status_code == 404 and "Introuvable" in unknown.text
    assert unknown.headers["content-type"].startswith("text/html")
    wrong = console.get(f"/demandes/{REFERRAL_ID}/actions/accept")
    assert wrong.status_code == 405 and "ne s&#39;ouvre pas ainsi" in wrong.text
    assert wrong.headers["allow"] == "POST" and wrong.headers["cache-control"] == "no-store"


def test_sign_in_never_redirects_to_another_site(console: TestClient) -> None:
    response = console.post(
        "/connexion/dev",
        data={"csrf": csrf(console), "org": demo.CSSS, "roles": ["intake"], "suivant": "//evil.example/x"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/demandes"


def test_the_receiver_is_offered_the_actions_of_the_state_and_only_those_the_api_offers(
    console: TestClient, fake: FakeServices
) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    page = console.get(f"/demandes/{REFERRAL_ID}").text
    offered = set(re.findall(r'id="a-([a-z-]+)"', page))
    assert offered == {"receive", "accept", "refuse"}  # callback, analyse… are not in this fake API; cancel: sender
    fake.paths.append("/v1/referrals/{referral_id}/meetings")
    fake.referral = referral("ACCEPTED", 2)
    console.app.state.console.offered = (0.0, None)  # type: ignore[attr-defined]
    assert "a-meetings" in console.get(f"/demandes/{REFERRAL_ID}").text  # issue 15's action shows up by itself


def test_an_action_is_sent_with_the_version_the_worker_saw(console: TestClient, fake: FakeServices) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    token = csrf(console, f"/demandes/{REFERRAL_ID}")
    fake.answers[("POST", f"/v1/referrals/{REFERRAL_ID}/accept")] = httpx.Response(200, json=referral("ACCEPTED", 2))
    done = console.post(
        f"/demandes/{REFERRAL_ID}/actions/accept", data={"csrf": token, "version": "1"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?fait=accept")
    sent = next(r for r in fake.seen if r.method == "POST")
    assert sent.headers["If-Match"] == "1"
    assert sent.headers["Authorization"].startswith("Bearer ")


def test_a_problem_document_is_shown_on_the_field_it_names(console: TestClient, fake: FakeServices) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    token = csrf(console, f"/demandes/{REFERRAL_ID}")
    fake.answers[("POST", f"/v1/referrals/{REFERRAL_ID}/refuse")] = httpx.Response(
        422,
        json={
            "type": "urn:ca.qc.rls:problem:validation",
            "title": "Invalid request",
            "errors": [
                {"field": "reason", "message": "String should have at least 1 character", "type": "string_too_short"}
            ],
        },
    )
    page = console.post(f"/demandes/{REFERRAL_ID}/actions/refuse", data={"csrf": token, "version": "1", "reason": ""})
    assert page.status_code == 422
    assert 'id="e-refuse-reason">ce champ est obligatoire' in page.text
    assert 'aria-invalid="true"' in page.text


def test_a_refused_referral_offers_no_information_form_and_says_why(console: TestClient, fake: FakeServices) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "clinician")
    assert 'action="/demandes/' + REFERRAL_ID + "/renseignements" in console.get(f"/demandes/{REFERRAL_ID}").text
    fake.referral = referral("REFUSED", 2)
    page = console.get(f"/demandes/{REFERRAL_ID}").text
    assert "/renseignements" not in page
    assert 'data-testid="information-ended">Cette demande est au statut « Refusée »' in page


def test_information_refused_for_an_ended_referral_is_explained_not_an_error(
    console: TestClient, fake: FakeServices
) -> None:
    """The referral ended between the page and the request (the referral service answers 403 referral-ended)."""
    sign_in(console, demo.CRISIS_CENTRE, "clinician")
    token = csrf(console, f"/demandes/{REFERRAL_ID}")
    fake.answers[("GET", f"/v1/referrals/{REFERRAL_ID}/information")] = httpx.Response(
        403,
        json={
            "type": "urn:ca.qc.rls:problem:referral-ended",
            "title": "Referral ended",
            "status": 403,
            "detail": "the referral is CANCELLED: record information is released only while the referral is live",
            "referral_status": "CANCELLED",
        },
    )
    page = console.post(f"/demandes/{REFERRAL_ID}/renseignements", data={"csrf": token, "categories": ["CONTACT"]})
    assert page.status_code == 403
    assert 'data-outcome="ENDED"' in page.text and "Communication refusée" in page.text
    assert "Cette demande est au statut « Annulée »" in page.text
    assert "Seule l'organisation qui reçoit" not in page.text, "not the receiver-only refusal"


def test_categories_the_referral_does_not_hold_are_nothing_to_disclose(console: TestClient, fake: FakeServices) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "clinician")
    token = csrf(console, f"/demandes/{REFERRAL_ID}")
    nothing = {
        "decision_id": None,
        "information": {},
        "denied_categories": [],
        "basis": [],
        "obligations": [],
        "register_entry_id": None,
        "decisions": [],
    }
    fake.answers[("GET", f"/v1/referrals/{REFERRAL_ID}/information")] = httpx.Response(200, json=nothing)
    page = console.post(f"/demandes/{REFERRAL_ID}/renseignements", data={"csrf": token, "categories": ["HEALTH"]})
    assert page.status_code == 200
    assert 'data-outcome="NONE"' in page.text and "Aucun renseignement à communiquer" in page.text
    assert "Communication permise" not in page.text
    assert not any(r.url.path.startswith("/v1/decisions") for r in fake.seen)


def test_a_release_on_two_decisions_names_each_and_explains_each_denial_by_its_decision(
    console: TestClient, fake: FakeServices
) -> None:
    """Under a service agreement, its clause decided its categories (releasing one, barring the other) and the
    person's consent to the referral the rest: the page names each decision with what it released, and says why
    each category was denied with the decision that denied it."""
    sign_in(console, demo.CRISIS_CENTRE, "clinician")
    token = csrf(console, f"/demandes/{REFERRAL_ID}")
    clause = {
        "decision_id": "d-clause",
        "purpose": "SERVICE_ON_BEHALF",
        "permitted_categories": ["IDENTIFICATION"],
        "denied_categories": ["REFERRAL_REASON"],
        "register_entry_id": "r-clause",
    }
    consent = {
        "decision_id": "d-consent",
        "purpose": "REFERRAL",
        "permitted_categories": ["CONTACT"],
        "denied_categories": ["HEALTH"],
        "register_entry_id": "r-consent",
    }
    released = {
        "decision_id": "d-clause",
        "information": {"IDENTIFICATION": "Synthetic Person 0108", "CONTACT": "555-0108"},
        "denied_categories": ["REFERRAL_REASON", "HEALTH"],
        "basis": [],
        "obligations": [],
        "register_entry_id": "r-clause",
        "decisions": [clause, consent],
        "undecided": None,
    }
    fake.answers[("GET", f"/v1/referrals/{REFERRAL_ID}/information")] = httpx.Response(200, json=released)
    for decision_id, why in (("d-clause", "the person restricted it"), ("d-consent", "no consent names it")):
        fake.answers[("GET", f"/v1/decisions/{decision_id}")] = httpx.Response(200, json={"explanation": why})
    form = {"csrf": token, "categories": ["IDENTIFICATION", "CONTACT", "REFERRAL_REASON", "HEALTH"]}
    page = console.post(f"/demandes/{REFERRAL_ID}/renseignements", data=form)
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert 'data-outcome="PERMIT_PARTIAL"' in text
    assert "the person restricted it no consent names it" in text
    assert re.findall(r'data-testid="decision-ref">([^<]*)', text) == [
        "Décision d-clause (Services rendus au nom de l'établissement) : Identification · "
        "Inscription au registre r-clause",
        "Décision d-consent (Référence (services à la personne)) : Coordonnées · Inscription au registre r-consent",
    ]


def test_categories_the_consent_service_gave_no_decision_on_are_said_so(
    console: TestClient, fake: FakeServices
) -> None:
    """The clause's decision released (and registered) a category, then the consent service did not answer for the
    rest: the page shows what was released and says that nothing was decided for the rest, asking no decision
    about it."""
    sign_in(console, demo.CRISIS_CENTRE, "clinician")
    token = csrf(console, f"/demandes/{REFERRAL_ID}")
    clause = {
        "decision_id": "d-clause",
        "purpose": "SERVICE_ON_BEHALF",
        "permitted_categories": ["IDENTIFICATION"],
        "denied_categories": [],
        "register_entry_id": "r-clause",
    }
    released = {
        "decision_id": "d-clause",
        "information": {"IDENTIFICATION": "Synthetic Person 0108"},
        "denied_categories": ["CONTACT"],
        "basis": [],
        "obligations": [],
        "register_entry_id": "r-clause",
        "decisions": [clause],
        "undecided": {"purpose": "REFERRAL", "categories": ["CONTACT"], "explanation": "consent service answered 503"},
    }
    fake.answers[("GET", f"/v1/referrals/{REFERRAL_ID}/information")] = httpx.Response(200, json=released)
    form = {"csrf": token, "categories": ["IDENTIFICATION", "CONTACT"]}
    page = console.post(f"/demandes/{REFERRAL_ID}/renseignements", data=form)
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert 'data-outcome="PERMIT_PARTIAL"' in text and "Synthetic Person 0108" in text
    why = re.findall(r'data-testid="why">(.*?)</p>', text, re.S)
    assert len(why) == 1 and "Le service de consentement n'a rendu aucune décision pour Coordonnées" in why[0]
    assert not any(r.url.path.startswith("/v1/decisions") for r in fake.seen)


def test_the_language_link_comes_back_to_the_page_with_its_query_or_the_page_a_form_was_on(
    console: TestClient, fake: FakeServices
) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    assert 'href="/langue/en?suivant=/demandes%3Fsens%3Denvoyees"' in console.get("/demandes?sens=envoyees").text
    fake.answers[("POST", f"/v1/referrals/{REFERRAL_ID}/accept")] = httpx.Response(
        422, json={"type": "urn:ca.qc.rls:problem:validation", "title": "Invalid request", "errors": []}
    )
    page = console.post(
        f"/demandes/{REFERRAL_ID}/actions/accept",
        data={"csrf": csrf(console, f"/demandes/{REFERRAL_ID}"), "version": "1"},
        headers={"Referer": f"https://testserver/demandes/{REFERRAL_ID}"},
    )
    assert page.status_code == 422
    assert f'href="/langue/en?suivant=/demandes/{REFERRAL_ID}"' in page.text  # not the POST-only action URL


def test_a_service_that_does_not_answer_is_a_page_not_a_500(console: TestClient, fake: FakeServices) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    fake.down.add("referral")
    page = console.get("/demandes")
    assert page.status_code == 503
    assert "Le service « referral » ne répond pas" in page.text


def test_a_bad_query_value_is_a_page_naming_the_parameter(console: TestClient) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    page = console.get("/demandes?statut=PERDUE")
    assert page.status_code == 422 and "statut" in page.text and "PERDUE" not in page.text


@pytest.mark.parametrize(
    ("path", "form", "field"),
    [
        (f"/demandes/{REFERRAL_ID}/actions/accept", {"version": "1", "at": "usager-9 né le 1990-01-01"}, "at"),
        (f"/demandes/{REFERRAL_ID}/actions/accept", {"version": "é"}, "version"),
        (f"/demandes/{REFERRAL_ID}/actions/accept", {"version": "1\r\nX-Injected: 1"}, "version"),
        (f"/demandes/{REFERRAL_ID}/consentements", {"form_key": "clé-usager-9"}, "form_key"),
        ("/demandes/nouvelle", {"form_key": "clé-usager-9", "subject_id": "usager-9"}, "form_key"),
    ],
)
def test_a_form_value_the_console_cannot_send_is_a_page_naming_the_field(
    console: TestClient, fake: FakeServices, path: str, form: dict[str, str], field: str
) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    page = console.post(path, data={"csrf": csrf(console, f"/demandes/{REFERRAL_ID}"), **form})
    assert page.status_code == 422
    assert f"La valeur du champ « {field} »" in page.text
    assert "1990" not in page.text and "clé" not in page.text and "é<" not in page.text
    assert not [r for r in fake.seen if r.method == "POST"]  # nothing sent on


@pytest.mark.parametrize(
    "path", ["/audit/registre?au=9999-12-31", "/audit/rapport?au=0001-01-01", "/audit/rapport/document?au=0001-01-01"]
)
def test_a_period_at_the_calendars_ends_is_a_page_naming_the_parameter(console: TestClient, path: str) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "network-auditor")
    page = console.get(path)
    assert page.status_code == 422 and "Paramètres invalides : au." in page.text


NAM_REFUSED = {
    "fr": "doit être un identifiant pseudonyme, pas un numéro d'assurance maladie (NAM)",
    "en": "must be a pseudonymous id, not a health insurance number (NAM)",
}


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("nam", ["TREJ55123112", "trej-5512-3112"])
def test_the_register_filtered_by_a_nam_is_refused_naming_the_filter_never_the_value(
    console: TestClient, fake: FakeServices, caplog: pytest.LogCaptureFixture, lang: str, nam: str
) -> None:
    caplog.set_level(logging.DEBUG)
    sign_in_speaking(console, lang, demo.CRISIS_CENTRE, "auditor")
    page = console.get("/audit/registre", params={"personne": nam})
    assert page.status_code == 422
    invalid = {"fr": "Paramètres invalides : ", "en": "Invalid parameters: "}[lang]
    assert f"{invalid}personne — {NAM_REFUSED[lang]}." in page.text.replace("&#39;", "'")
    assert nam.upper() not in page.text.upper()
    assert not [r for r in fake.seen if r.url.path == "/v1/register"]  # not sent on to the consent service
    assert nam not in "\n".join(r.getMessage() for r in caplog.records if r.name != "httpx")  # the test's client


def test_the_register_filtered_by_a_pseudonymous_id_asks_the_consent_service(
    console: TestClient, fake: FakeServices
) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "auditor")
    fake.answers[("GET", "/v1/register")] = httpx.Response(200, json={"items": [], "next_cursor": None})
    assert console.get("/audit/registre", params={"personne": "subj00001234"}).status_code == 200
    [asked] = [r for r in fake.seen if r.url.path == "/v1/register"]
    assert asked.url.params["subject_id"] == "subj00001234"


def test_the_registers_period_is_sent_as_instants_the_consent_service_reads(
    console: TestClient, fake: FakeServices
) -> None:
    """The consent service reads date-times in the years 2 to 9998 (Québec time): the bare dates sent were a 422.
    Through the calendar's last day is no end."""
    sign_in(console, demo.CRISIS_CENTRE, "auditor")
    fake.answers[("GET", "/v1/register")] = httpx.Response(200, json={"items": [], "next_cursor": None})
    assert console.get("/audit/registre", params={"du": "2026-11-01", "au": "2026-11-30"}).status_code == 200
    assert console.get("/audit/registre", params={"du": "1900-01-01", "au": "9998-12-31"}).status_code == 200
    period, widest = [r.url.params for r in fake.seen if r.url.path == "/v1/register"]
    read = TypeAdapter(CalendarInstant).validate_python
    montreal = ZoneInfo("America/Montreal")
    assert read(period["from"]) == datetime(2026, 11, 1, tzinfo=montreal)
    assert read(period["to"]) == datetime(2026, 12, 1, tzinfo=montreal)
    assert read(widest["from"]) == datetime(1900, 1, 1, tzinfo=montreal) and "to" not in widest


def test_the_registers_next_page_passes_the_consent_services_opaque_cursor_on(
    console: TestClient, fake: FakeServices
) -> None:
    """The consent service's cursors are sealed (base64url), no longer event numbers: the console's own pattern
    refused them (422). The link also carried the filters left empty (`du=`), which the console refused too."""
    cursor = "q1Zk3_x-9VtQ0LrM2hY8aWc4NnE5RbJd7PsTfUuGvo6HiKeXyA1Bz"
    sign_in(console, demo.CRISIS_CENTRE, "auditor")
    entry = {
        "register_entry_id": "e-1",
        "at": NOW.isoformat(),
        "subject_id": "subj00001234",
        "discloser_org_id": demo.CSSS,
        "disclosed_by": None,
        "recipient_org_id": demo.CRISIS_CENTRE,
        "categories": ["CONTACT"],
        "purpose": "REFERRAL",
        "article": "art. 19",
        "route": "B-01",
        "regime_superseded": False,
    }
    fake.answers[("GET", "/v1/register")] = httpx.Response(200, json={"items": [entry], "next_cursor": cursor})
    first = console.get("/audit/registre", params={"personne": "subj00001234"})
    assert first.status_code == 200 and f"curseur={cursor}" in first.text
    link = first.text.split('<a href="/audit/registre?')[1].split('"')[0].replace("&amp;", "&")
    assert link == f"personne=subj00001234&curseur={cursor}"
    following = console.get(f"/audit/registre?{link}")
    assert following.status_code == 200, following.text
    assert [r.url.params.get("cursor") for r in fake.seen if r.url.path == "/v1/register"] == [None, cursor]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_referral_naming_the_person_by_a_nam_comes_back_with_the_refusal_on_the_field_and_without_it(
    console: TestClient, fake: FakeServices, lang: str
) -> None:
    sign_in_speaking(console, lang, demo.CRISIS_CENTRE, "intake")
    refused = {"field": "subject_id", "message": NAM_REFUSED["en"], "type": "subject_id_nam"}
    fake.answers[("POST", "/v1/referrals")] = httpx.Response(
        422,
        json={"type": "urn:ca.qc.rls:problem:validation", "title": "Invalid request", "errors": [refused]},
        headers={"content-type": "application/problem+json"},
    )
    form = {"csrf": csrf(console, "/demandes/nouvelle"), "form_key": REFERRAL_ID, "subject_id": "TREJ55123112"}
    page = console.post("/demandes/nouvelle", data={**form, "reason_code": "FAMILY_CRISIS"})
    assert page.status_code == 422
    assert f'id="e-subject_id">{NAM_REFUSED[lang]}' in page.text.replace("&#39;", "'")
    assert "TREJ55123112" not in page.text  # not written back into the form
    assert 'maxlength="64" value="FAMILY_CRISIS"' in page.text  # the other fields are


def broken_referral_page(console: TestClient, monkeypatch: pytest.MonkeyPatch) -> httpx.Response:
    """The referral page when something fails unexpectedly, its message quoting what a user typed."""

    def broken(*args: Any) -> None:
        raise ValueError("usager-9 typed this")

    sign_in(console, demo.CRISIS_CENTRE, "intake")
    monkeypatch.setattr(referrals, "most_pressing", broken)
    strict = TestClient(console.app, base_url="https://testserver", cookies=console.cookies)  # raises what escapes
    return strict.get(f"/demandes/{REFERRAL_ID}")


def test_an_unexpected_error_is_a_page_logged_by_its_type_and_route_only(
    console: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        page = broken_referral_page(console, monkeypatch)
    assert page.status_code == 500 and "Erreur interne" in page.text
    assert "usager-9" not in caplog.text
    assert "unexpected ValueError on GET /demandes/{referral_id}" in caplog.text


def test_a_500_page_has_the_security_headers(console: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    page = broken_referral_page(console, monkeypatch)
    assert page.status_code == 500
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"


class AuditTrail:
    """The audit service's trail as it pages it for an organisation's auditor: that organisation's inquiries only,
    `limit` at a time after the position of the last one read (the organisation's own numbering), each read recorded
    before it reads."""

    def __init__(self, *orgs: str) -> None:
        self.log: list[dict[str, Any]] = []
        for org in orgs:
            self.inquiry("worker-1" if org == demo.CSSS else "auditor-crise", org, "VERIFY", {})

    def inquiry(self, auditor: str, org: str, action: str, parameters: dict[str, str]) -> None:
        made = {"inquiry_id": str(len(self.log)), "auditor": auditor, "org": org, "channel": "API", "action": action}
        self.log.append(made | {"target": "stores", "parameters": parameters, "at": NOW.isoformat(), "outcome": "DONE"})

    def read(self, request: httpx.Request) -> httpx.Response:
        after, limit = int(request.url.params["cursor"]), int(request.url.params["limit"])
        self.inquiry("worker-1", demo.CSSS, "TRAIL", {"after": str(after), "limit": str(limit)})
        own = [{**e, "position": p} for p, e in enumerate((e for e in self.log if e["org"] == demo.CSSS), start=1)]
        return httpx.Response(200, json=[e for e in own if e["position"] > after][:limit])


def test_an_organisations_auditor_reads_its_whole_trail_page_after_page(
    console: TestClient, fake: FakeServices
) -> None:
    trail = AuditTrail(*[demo.CRISIS_CENTRE] * 400, demo.CSSS, *[demo.CRISIS_CENTRE] * 600, *[demo.CSSS] * 700)
    fake.answers[("GET", "/v1/inquiries")] = trail.read
    sign_in(console, demo.CSSS, "auditor")
    page = console.get("/audit/journal").text
    assert "auditor-crise" not in page
    assert page.count("<td>TRAIL</td>") == 2  # one per page read: 703 inquiries of its organisation, 2 pages
    assert page.count("<td>VERIFY</td>") == 198  # the newest 200 are shown
    assert console.get("/audit/integrite").status_code == 403  # the stores' integrity: network auditors only
    sign_in(console, demo.CSSS, "network-auditor")
    assert 'data-testid="last-verification">Dernière vérification' in console.get("/audit/integrite").text


@pytest.mark.parametrize("path", ["/audit/integrite", "/audit/rapport", "/audit/rapport/document", "/audit/journal"])
def test_an_audit_read_another_site_asks_for_is_refused_with_a_link_to_open_it(
    console: TestClient, fake: FakeServices, path: str
) -> None:
    sign_in(console, demo.CSSS, "network-auditor")
    refused = console.get(path + "?au=2026-01-31", headers={"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403 and "demandée depuis un autre site" in refused.text
    assert f'href="{path}?au=2026-01-31" data-testid="continue"' in refused.text
    assert console.get(path, headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
    assert not [r for r in fake.seen if r.url.host == "audit"]  # nothing entered in the trail
    for origin in ("same-origin", "none", None):  # from the console, a typed address, a browser without the header
        console.get(path, headers={"Sec-Fetch-Site": origin} if origin else {})
        assert [r for r in fake.seen if r.url.host == "audit"]
        fake.seen.clear()


def test_every_page_is_no_store_and_never_framed_by_another_site(console: TestClient) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    page = console.get("/demandes")
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    static = console.get("/static/console.css")
    assert "immutable" in static.headers["cache-control"]


def test_the_worklist_shows_the_clock_that_matters_most_as_time_left(console: TestClient) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    page = console.get("/demandes").text
    assert 'class="clock at-risk" data-state="AT_RISK"' in page
    assert re.search(r"\d+ min restant", page)


def test_the_worklist_filters_treat_all_as_no_filter(console: TestClient, fake: FakeServices) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    everything = console.get("/demandes?sens=recues&statut=&service=&urgence=")
    assert everything.status_code == 200 and REFERRAL_ID in everything.text
    urgent = console.get("/demandes?sens=recues&statut=&service=CRISIS_24_7&urgence=URGENT")
    assert REFERRAL_ID in urgent.text
    assert REFERRAL_ID not in console.get("/demandes?statut=&service=&urgence=ROUTINE").text


def test_roles_open_pages(console: TestClient) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    assert console.get("/audit/integrite").status_code == 403
    assert console.get("/ententes").status_code == 403


def test_only_network_auditors_are_offered_the_integrity_of_the_stores(console: TestClient, fake: FakeServices) -> None:
    """Its findings name aggregates (referral ids) of every organisation: the audit service answers network
    auditors only, and the console neither links nor opens the page for an organisation's auditor."""
    sign_in(console, demo.CSSS, "auditor")
    assert 'href="/audit/integrite"' not in console.get("/demandes").text
    assert console.get("/audit/integrite").status_code == 403
    assert console.post("/audit/integrite", data={"csrf": csrf(console)}).status_code == 403
    assert not [r for r in fake.seen if r.url.path == "/v1/integrity"]
    sign_in(console, demo.CSSS, "network-auditor")
    assert 'href="/audit/integrite"' in console.get("/demandes").text


RETIRED = "5f0e4c1a-9b2d-4e6f-8a7c-3d1b0e9f2a64"
ACKNOWLEDGEMENT = "0c3f7d2e-1a4b-4c5d-9e8f-7a6b5c4d3e2f"


def verified_store(acknowledged: bool) -> dict[str, Any]:
    """The referral store as `GET /v1/integrity` reports it after a re-installation, before and after its retired
    store id was acknowledged."""
    finding = f"replaced-store: store: store id {RETIRED} published 3 checkpoint(s) of referrals up to event #40"
    return {
        "service": "referral",
        "application": "referrals",
        "ok": acknowledged,
        "problem": None,
        "events": 12,
        "sealed": 12,
        "checkpoints_matched": 1,
        "checkpoints": 1,
        "last_checkpoint_at": NOW.isoformat(),
        "first_finding": None if acknowledged else finding,
        "findings": [] if acknowledged else [finding],
        "other_store_ids_with_checkpoints": [RETIRED],
        "acknowledged_stores": (
            [{"store_id": RETIRED, "acknowledgement_id": ACKNOWLEDGEMENT, "checkpoints": 3, "up_to_event": 40}]
            if acknowledged
            else []
        ),
        "notes": [f"acknowledged retired store: store id {RETIRED} …"] if acknowledged else [],
    }


def acknowledgement_made(auditor: str = "worker-1") -> dict[str, Any]:
    """`POST /v1/integrity/acknowledgements`' answer (the signed-in auditor is `worker-1`)."""
    return {
        "id": ACKNOWLEDGEMENT,
        "application": "referrals",
        "store_id": RETIRED,
        "reason": "Réinstallée",
        "auditor": auditor,
        "org": demo.CSSS,
        "at": NOW.isoformat(),
        "checkpoints": 3,
        "up_to_event": 40,
    }


def integrity_answer(acknowledged: bool) -> httpx.Response:
    body = {"ok": acknowledged, "checkpoints_read": 4, "checkpoint_problem": None}
    return httpx.Response(200, json=body | {"stores": [verified_store(acknowledged)]})


def test_a_network_auditor_acknowledges_a_retired_store_from_the_verification(
    console: TestClient, fake: FakeServices
) -> None:
    fake.answers[("GET", "/v1/inquiries")] = httpx.Response(200, json=[])
    fake.answers[("GET", "/v1/integrity")] = integrity_answer(acknowledged=False)
    fake.answers[("POST", "/v1/integrity/acknowledgements")] = httpx.Response(201, json=acknowledgement_made())
    fake.answers[("GET", "/v1/integrity/acknowledgements")] = httpx.Response(200, json=[acknowledgement_made()])
    sign_in(console, demo.CSSS, "network-auditor")
    found = console.post("/audit/integrite", data={"csrf": csrf(console)}).text
    assert f'data-testid="acknowledge-{RETIRED}"' in found and "Reconnaître un registre retiré" in found

    made = console.post(
        "/audit/integrite/reconnaissances",
        data={"csrf": csrf(console), "application": "referrals", "store_id": RETIRED, "reason": " Réinstallée "},
        follow_redirects=False,
    )
    [sent] = [r for r in fake.seen if r.method == "POST" and r.url.path == "/v1/integrity/acknowledgements"]
    assert json.loads(sent.content) == {"application": "referrals", "store_id": RETIRED, "reason": "Réinstallée"}
    assert made.status_code == 303
    assert made.headers["location"] == f"/audit/integrite?reconnaissance={ACKNOWLEDGEMENT}"
    assert f"Reconnaissance {ACKNOWLEDGEMENT} enregistrée" in console.get(made.headers["location"]).text

    fake.answers[("GET", "/v1/integrity")] = integrity_answer(acknowledged=True)
    clean = console.post("/audit/integrite", data={"csrf": csrf(console)}).text
    assert "Tous les registres sont intègres." in clean
    assert f"Registre retiré reconnu : {RETIRED} (3 points de contrôle, reconnaissance {ACKNOWLEDGEMENT})" in clean
    assert f'data-testid="acknowledge-{RETIRED}"' not in clean


@pytest.mark.parametrize(
    "listed",
    [[], [acknowledgement_made(auditor="someone-else")]],
    ids=["no-such-acknowledgement", "made-by-another-auditor"],
)
def test_a_link_naming_an_acknowledgement_confirms_only_one_the_auditor_made(
    console: TestClient, fake: FakeServices, listed: list[dict[str, Any]]
) -> None:
    """The confirmation follows the acknowledgement the audit service lists, never the id a link carries: a crafted
    link shows no false "recorded"."""
    fake.answers[("GET", "/v1/inquiries")] = httpx.Response(200, json=[])
    fake.answers[("GET", "/v1/integrity/acknowledgements")] = httpx.Response(200, json=listed)
    sign_in(console, demo.CSSS, "network-auditor")
    page = console.get(f"/audit/integrite?reconnaissance={ACKNOWLEDGEMENT}")
    assert page.status_code == 200
    assert 'data-testid="acknowledged"' not in page.text and "enregistrée" not in page.text
    assert [r for r in fake.seen if r.url.path == "/v1/integrity/acknowledgements"]


def test_a_refused_acknowledgement_comes_back_with_the_form_and_the_field_named(
    console: TestClient, fake: FakeServices
) -> None:
    fake.answers[("GET", "/v1/inquiries")] = httpx.Response(200, json=[])
    problem = {
        "type": "urn:ca.qc.rls:problem:validation",
        "title": "Invalid request",
        "status": 422,
        "detail": "reason: String should match pattern",
        "errors": [{"field": "reason", "message": "String should match pattern", "type": "string_pattern_mismatch"}],
    }
    fake.answers[("POST", "/v1/integrity/acknowledgements")] = httpx.Response(
        422, json=problem, headers={"content-type": "application/problem+json"}
    )
    sign_in(console, demo.CSSS, "network-auditor")
    page = console.post(
        "/audit/integrite/reconnaissances",
        data={"csrf": csrf(console), "application": "referrals", "store_id": RETIRED, "reason": "x"},
    )
    assert page.status_code == 422
    assert f'data-testid="acknowledge-{RETIRED}"' in page.text and 'id="e-reason"' in page.text


def test_an_organisations_auditor_cannot_acknowledge_a_retired_store(console: TestClient, fake: FakeServices) -> None:
    sign_in(console, demo.CSSS, "auditor")
    refused = console.post(
        "/audit/integrite/reconnaissances",
        data={"csrf": csrf(console), "application": "referrals", "store_id": RETIRED, "reason": "Réinstallée"},
    )
    assert refused.status_code == 403
    assert not [r for r in fake.seen if r.url.path == "/v1/integrity/acknowledgements"]


def test_production_needs_oidc_a_session_key_a_session_store_and_the_services_addresses(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"CONSOLE_OIDC_ISSUER.*CONSOLE_SESSION_STORE"):  # pydantic wraps it
        ConsoleSettings(
            mode="production", jwks_url="https://idp.example/jwks", jwt_issuer="https://idp.example", var_dir=tmp_path
        )


def test_the_dev_sign_in_does_not_exist_in_production(tmp_path: Path, dev_key_file: Path) -> None:
    settings = ConsoleSettings(
        mode="production",
        jwks_url="https://idp.example/jwks",
        jwt_issuer="https://idp.example",
        oidc_issuer="https://idp.example",
        oidc_client_id="rls-console",
        session_key="A" * 43 + "=",
        session_store="memory://",
        var_dir=tmp_path,
        **{f"{s}_url": f"http://{s}" for s in API_SERVICES},
    )
    with TestClient(build_app(settings), base_url="https://testserver") as client:
        page = client.get("/connexion")
        assert "Connexion de développement" not in page.text
        assert 'href="/connexion/oidc?suivant=' in page.text
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is None  # no form on the page at all in production


def referral_service_answer(error: Exception) -> httpx.Response:
    """The problem document the referral service answers when its domain raises `error` (its own error table)."""
    service = FastAPI()
    install_problem_handlers(service, REFERRAL_ERRORS)

    @service.post("/raise")
    def _raise() -> None:
        raise error

    answer = TestClient(service).post("/raise")
    return httpx.Response(
        answer.status_code, content=answer.content, headers={"content-type": "application/problem+json"}
    )


ENGLISH = ("cannot", "does not offer", "Invalid request", "Not possible", "needs is down", "unreachable", "The service")


def english_in(page: httpx.Response) -> list[str]:
    return [words for words in ENGLISH if words in page.text]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_referral_services_own_checks_are_said_in_the_users_language(
    console: TestClient, fake: FakeServices, lang: str
) -> None:
    sign_in_speaking(console, lang, demo.CRISIS_CENTRE, "intake")
    page_path = f"/demandes/{REFERRAL_ID}"
    fake.answers[("POST", f"{page_path.replace('/demandes', '/v1/referrals')}/refuse")] = referral_service_answer(
        ReferralTimeError("at: a step cannot happen in the future")
    )
    form = {"csrf": csrf(console, page_path), "version": "1", "reason": "x", "at": "2099-01-01T10:00"}
    refused = console.post(f"{page_path}/actions/refuse", data=form)
    assert refused.status_code == 422
    said = {"fr": "ne peut être ni dans le futur", "en": "can be neither in the future"}[lang]
    assert said in html.unescape(refused.text)
    fake.answers[("POST", f"{page_path.replace('/demandes', '/v1/referrals')}/accept")] = referral_service_answer(
        ReferralTransitionError("cannot accept a referral in status SUBMITTED")
    )
    impossible = console.post(f"{page_path}/actions/accept", data={"csrf": csrf(console, page_path), "version": "1"})
    assert impossible.status_code == 409
    said = {"fr": "cette étape n'est pas permise", "en": "this step is not allowed"}[lang]
    assert said in html.unescape(impossible.text)
    if lang == "fr":
        assert english_in(refused) == [] and english_in(impossible) == []


def test_a_refused_submission_is_said_in_french_on_its_field_or_for_the_form(
    console: TestClient, fake: FakeServices
) -> None:
    sign_in(console, demo.CSSS, "intake")
    fake.answers[("GET", "/v1/organisations")] = httpx.Response(200, json={"items": []})
    form = {"csrf": csrf(console, "/demandes/nouvelle"), "form_key": REFERRAL_ID, "subject_id": "usager-9"}
    fake.answers[("POST", "/v1/referrals")] = referral_service_answer(
        ReferralTargetError("to_service: the target organisation does not offer this service")
    )
    target = console.post("/demandes/nouvelle", data={**form, "to_service": "CRISIS_24_7"})
    assert 'id="e-to_service">l&#39;organisation destinataire n&#39;offre pas ce service' in target.text
    fake.answers[("POST", "/v1/referrals")] = referral_service_answer(TargetUnknownError("unknown organisation"))
    unknown = console.post("/demandes/nouvelle", data={**form, "to_service": "CRISIS_24_7"})
    assert "le répertoire ne connaît pas l&#39;organisation destinataire" in unknown.text
    fake.answers[("POST", "/v1/referrals")] = httpx.Response(
        422, json={"type": "urn:ca.qc.rls:problem:something-new", "title": "Something new", "detail": "in English"}
    )
    new = console.post("/demandes/nouvelle", data={**form, "to_service": "CRISIS_24_7"})
    assert "le service a refusé les valeurs envoyées" in html.unescape(new.text)  # by its status
    for page in (target, unknown, new):
        assert english_in(page) == [] and "in English" not in page.text


@pytest.mark.parametrize(("lang", "said"), [("fr", "un service dont cette demande a besoin ne répond pas"), ("en", "")])
def test_a_service_down_behind_another_is_said_in_the_users_language(
    console: TestClient, fake: FakeServices, lang: str, said: str
) -> None:
    sign_in_speaking(console, lang, demo.CRISIS_CENTRE, "clinician")
    fake.answers[("GET", f"/v1/referrals/{REFERRAL_ID}/information")] = referral_service_answer(
        DependencyUnavailableError("http://consent/v1/decisions unreachable (ConnectError)")
    )
    form = {"csrf": csrf(console, f"/demandes/{REFERRAL_ID}"), "categories": ["CONTACT"]}
    page = console.post(f"/demandes/{REFERRAL_ID}/renseignements", data=form)
    assert page.status_code == 502
    assert (said or "a service this request needs does not answer") in html.unescape(page.text)
    assert "unreachable" not in page.text and "needs is down" not in page.text


def test_no_french_text_quotes_a_service() -> None:
    """The texts a service's refusal is said with quote its words (`{message}`, `{detail}`) only in English; every
    text has both languages."""
    for key, (fr, en) in TEXTS.items():
        assert fr and en, key
        if key.startswith(("invalid.", "problem.", "referral.impossible", "error.api")):
            assert "{message}" not in fr and "{detail}" not in fr, key


def notices(page: httpx.Response) -> list[str]:
    return re.findall(r'role="status"><p>([^<]*)', html.unescape(page.text))


def test_a_link_naming_an_action_a_consent_or_a_submission_confirms_only_what_the_services_show(
    console: TestClient, fake: FakeServices
) -> None:
    """Nothing was done: a crafted link confirms nothing (as `?reconnaissance=` on the integrity page)."""
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    page = f"/demandes/{REFERRAL_ID}"
    consent_id = "5f0c2a8e-3d7b-4d61-9a0e-1b2c3d4e5f60"
    for query in ("fait=accept", f"consentement={consent_id}", "soumise=1"):  # the receiver submitted nothing
        assert notices(console.get(f"{page}?{query}")) == [], query
    assert console.get(f"{page}?consentement=AUCUN").status_code == 422  # not an id
    # done: the referral's last step is the receiver's acceptance; the consent service has the consent
    fake.referral = referral("ACCEPTED", 2)
    fake.referral["history"] = [
        {"step": "submitted", "at": NOW.isoformat(), "to_org": demo.CRISIS_CENTRE},
        {"step": "accepted", "at": NOW.isoformat(), "to_org": demo.CRISIS_CENTRE},
    ]
    consent = {
        "id": consent_id,
        "subject_id": "usager-9",
        "recorded_by_org": demo.CRISIS_CENTRE,
        "recipients": [{"org_id": demo.CRISIS_CENTRE}],
    }
    fake.answers[("GET", f"/v1/consents/{consent_id}")] = httpx.Response(200, json=consent)
    assert notices(console.get(f"{page}?fait=accept")) == ["Action enregistrée : Accepter."]
    assert notices(console.get(f"{page}?fait=refuse")) == []  # not the last step
    assert notices(console.get(f"{page}?consentement={consent_id}")) == ["Consentement consigné (5f0c2a8e)."]
    fake.answers[("GET", f"/v1/consents/{consent_id}")] = httpx.Response(200, json={**consent, "subject_id": "x"})
    assert notices(console.get(f"{page}?consentement={consent_id}")) == []  # another person's


def test_the_submission_is_confirmed_to_its_sender_while_nothing_else_happened(
    console: TestClient, fake: FakeServices
) -> None:
    sign_in(console, demo.CSSS, "intake")
    assert notices(console.get(f"/demandes/{REFERRAL_ID}?soumise=1")) == ["Demande soumise."]
    fake.referral["history"].append({"step": "received", "at": NOW.isoformat()})
    assert notices(console.get(f"/demandes/{REFERRAL_ID}?soumise=1")) == []


@pytest.mark.parametrize(
    ("roles", "home"),
    [
        (["admin"], "/ententes"),
        (["intake"], "/demandes"),
        (["auditor"], "/demandes"),
        (["coordinator", "admin"], "/demandes"),
        ([NETWORK_AUDITOR], "/demandes"),
    ],
)
def test_sign_in_and_the_home_lead_to_the_first_page_the_users_roles_open(
    console: TestClient, fake: FakeServices, roles: list[str], home: str
) -> None:
    """An administrator opens no worklist: sign-in led them to a refusal."""
    fake.answers[("GET", "/v1/agreements")] = httpx.Response(200, json={"items": [], "next_cursor": None})
    form = {"csrf": csrf(console), "org": demo.CSSS, "roles": roles, "sub": "someone"}  # the sign-in page's default
    signed_in = console.post("/connexion/dev", data=form, follow_redirects=False)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == home
    assert console.get("/", follow_redirects=False).headers["location"] == home
    assert console.get(home).status_code == 200
    assert 'name="suivant" value="/"' in console.get("/connexion").text


def links_reach_their_fields(page: httpx.Response) -> list[str]:
    """The error summary's links, each checked to reach an element of the page."""
    links = re.findall(r'<li><a href="#([^"]+)">', page.text)
    assert all(f'id="{target}"' in page.text for target in links), links
    return links


def described_by(page: httpx.Response, element_id: str) -> list[str]:
    """The ids an element's aria-describedby names, each checked to exist."""
    tag = re.search(rf'<[a-z]+ [^>]*id="{element_id}"[^>]*>', page.text)
    assert tag, element_id
    names = re.search(r'aria-describedby="([^"]+)"', tag.group(0))
    ids = names.group(1).split() if names else []
    assert all(f'id="{i}"' in page.text for i in ids), ids
    return ids


def test_an_actions_errors_are_tied_to_its_own_inputs_by_their_labels(console: TestClient, fake: FakeServices) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "intake")
    page, refuse = f"/demandes/{REFERRAL_ID}", f"/v1/referrals/{REFERRAL_ID}/refuse"
    fake.answers[("POST", refuse)] = httpx.Response(
        422,
        json={
            "type": "urn:ca.qc.rls:problem:validation",
            "title": "Invalid request",
            "errors": [
                {"field": "reason", "message": "String should have at least 1 character", "type": "string_too_short"}
            ],
        },
    )
    reason = console.post(f"{page}/actions/refuse", data={"csrf": csrf(console, page), "version": "1", "reason": " "})
    assert links_reach_their_fields(reason) == ["f-refuse-reason"]
    assert '<a href="#f-refuse-reason">Motif du refus</a>' in reason.text  # its label, not the API's name
    assert described_by(reason, "f-refuse-reason") == ["e-refuse-reason"]
    fake.answers[("POST", refuse)] = referral_service_answer(
        ReferralTimeError("at: a step cannot happen in the future")
    )
    form = {"csrf": csrf(console, page), "version": "1", "reason": "x", "at": "2099-01-01T10:00"}
    at = console.post(f"{page}/actions/refuse", data=form)
    assert links_reach_their_fields(at) == ["f-refuse-at"]
    assert described_by(at, "f-refuse-at") == ["e-refuse-at"]  # the optional date too
    assert '<a href="#f-refuse-at">Quand' in at.text


def test_information_asked_without_a_category_says_so_on_the_categories(console: TestClient) -> None:
    sign_in(console, demo.CRISIS_CENTRE, "clinician")
    page = f"/demandes/{REFERRAL_ID}"
    asked = console.post(f"{page}/renseignements", data={"csrf": csrf(console, page)})
    assert asked.status_code == 422
    assert described_by(asked, "f-info-categories") == ["e-info-categories"]
