"""The consent form against the real consent service (in process, memory store): a representative states the
purposes their mandate covers, and the service's refusals of who gave the consent come back on the right field, in
the user's language, with what the user typed kept. The referral service is the fake of test_pages."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.consent.main import build_app as build_consent_app
from services.consent.rules import CURRENT_VERSION, table_for
from services.consent.settings import ConsentSettings
from services.console.main import build_app
from services.console.pages.referrals import REPRESENTATIVES
from services.console.settings import API_SERVICES, ConsoleSettings
from services.contract.codes import GrantorRole
from services.runtime import demo
from tests.console.test_pages import REFERRAL_ID, FakeServices, csrf, sign_in

Auth = Callable[..., dict[str, str]]
PAGE = f"/demandes/{REFERRAL_ID}"
SUBJECT = "usager-9"  # the fake referral's person
MANDATE = "500-14-000001-199"


@pytest.fixture
def consent_service(service_settings: Callable[..., Any], client_for: Callable[..., TestClient]) -> TestClient:
    return client_for(build_consent_app(service_settings(ConsentSettings, regime="LSSSS_17_27_3")))


@pytest.fixture
def console(tmp_path: Path, dev_key_file: Path, consent_service: TestClient) -> Iterator[TestClient]:
    """The console, its consent service the real one (the user's token is checked by it), the others fakes."""
    fake = FakeServices()

    def consent(request: httpx.Request) -> httpx.Response:
        answer = consent_service.request(
            request.method,
            request.url.raw_path.decode(),
            content=request.content,
            headers={k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")},
        )
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-encoding")}
        return httpx.Response(answer.status_code, headers=headers, content=answer.content)

    settings = ConsoleSettings(
        var_dir=tmp_path, dev_key_file=dev_key_file, **{f"{s}_url": f"http://{s}" for s in API_SERVICES}
    )
    app = build_app(settings)
    app.state.console.clients = {
        s: httpx.AsyncClient(
            base_url=f"http://{s}",
            transport=httpx.MockTransport(consent if s == "consent" else fake.handler(s)),
        )
        for s in API_SERVICES
    }
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        sign_in(client, demo.CRISIS_CENTRE, "intake")
        yield client


def _form(console: TestClient, **fields: Any) -> dict[str, Any]:
    page = console.get(PAGE)
    key = re.search(r'name="form_key" value="([^"]+)"', page.text)
    assert key, page.text[:500]
    return {
        "csrf": csrf(console, PAGE),
        "form_key": key.group(1),
        "subject_birth_date": "1950-03-14",
        "granted_by.role": "MANDATARY",
        "granted_by.mandate_ref": MANDATE,
        "method": "WRITTEN",
        "purposes": ["REFERRAL"],
        "categories": ["IDENTIFICATION", "CONTACT"],
        **fields,
    }


def _consents(consent_service: TestClient, auth: Auth) -> list[dict[str, Any]]:
    listed = consent_service.get(
        "/v1/consents", params={"subject_id": SUBJECT}, headers=auth(demo.CRISIS_CENTRE, "intake")
    )
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


def _text(page: httpx.Response) -> str:
    return html.unescape(page.text)


def _checked(page: httpx.Response, name: str) -> set[str]:
    return set(re.findall(rf'name="{re.escape(name)}" value="([A-Z_]+)" checked', page.text))


def test_a_representatives_consent_is_recorded_with_the_purposes_its_mandate_covers(
    console: TestClient, consent_service: TestClient, auth: Auth
) -> None:
    form = _form(console, **{"granted_by.scope": ["REFERRAL", "JOINT_FOLLOW_UP"]})
    done = console.post(f"{PAGE}/consentements", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert "?consentement=" in done.headers["location"]
    [consent] = _consents(consent_service, auth)
    assert consent["granted_by"] == {
        "role": "MANDATARY",
        "mandate_ref": MANDATE,
        "scope": ["REFERRAL", "JOINT_FOLLOW_UP"],
    }


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("fr", "un représentant ne consent que dans les limites de son mandat : cochez les fins que couvre le mandat"),
        ("en", "a representative consents only within their mandate: check the purposes the mandate covers"),
    ],
)
def test_a_representatives_consent_without_its_mandate_comes_back_with_the_message_on_the_mandate_field(
    console: TestClient, consent_service: TestClient, auth: Auth, lang: str, said: str
) -> None:
    console.get(f"/langue/{lang}?suivant={PAGE}")
    form = _form(console, **{"granted_by.role": "CURATOR", "method": "VERBAL_WITNESSED", "valid_until": "2027-06-30"})
    page = console.post(f"{PAGE}/consentements", data=form)
    assert page.status_code == 422
    text = _text(page)
    assert f'<p class="field-error" id="e-granted_by-scope">{said}</p>' in text
    described = 'aria-describedby="h-granted_by-scope e-granted_by-scope" aria-invalid="true"'
    assert f'id="f-granted_by-scope" {described}' in text
    assert 'href="#f-granted_by-scope">' in text  # the summary links to the field, by its label
    assert "granted_by.scope" not in re.sub(r'name="granted_by\.scope"', "", text)  # never the API's field path
    assert _consents(consent_service, auth) == []
    # what the user typed is kept
    assert 'value="1950-03-14"' in text and 'value="2027-06-30"' in text and f'value="{MANDATE}"' in text
    assert '<option value="CURATOR" selected' in text and '<option value="VERBAL_WITNESSED" selected' in text
    assert _checked(page, "purposes") == {"REFERRAL"} and _checked(page, "categories") == {"IDENTIFICATION", "CONTACT"}


def test_a_missing_mandate_is_said_with_the_other_fields_problems(console: TestClient) -> None:
    """The consent service checks the mandate only once the request is well formed: the console says it at once."""
    page = console.post(f"{PAGE}/consentements", data=_form(console, subject_birth_date="", categories=[]))
    assert page.status_code == 422
    text = _text(page)
    for field in ("subject_birth_date", "categories", "granted_by-scope"):
        assert f'id="e-{field}"' in text, field
    assert "un représentant ne consent que dans les limites de son mandat" in text


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("fr", "ne peut pas consentir pour la personne à son âge quand le consentement est donné ou quand il commence"),
        ("en", "may not consent for the person at their age when the consent is given or when it starts"),
    ],
)
def test_a_grantor_the_persons_age_does_not_entitle_comes_back_with_the_message_on_the_role(
    console: TestClient, consent_service: TestClient, auth: Auth, lang: str, said: str
) -> None:
    console.get(f"/langue/{lang}?suivant={PAGE}")
    ten = (date.today() - timedelta(days=10 * 365)).isoformat()  # 10: only a parent or a tutor consents
    form = _form(console, subject_birth_date=ten, **{"granted_by.role": "SELF"})
    page = console.post(f"{PAGE}/consentements", data=form)
    assert page.status_code == 422
    text = _text(page)
    assert f'<p class="field-error" id="e-granted_by-role">{said}' in text
    assert 'aria-invalid="true" aria-describedby="e-granted_by-role"' in text
    assert "SELF may not consent" not in text and "age band" not in text  # not the service's own words
    assert f'value="{ten}"' in text and '<option value="SELF" selected' in text
    assert _consents(consent_service, auth) == []


def test_a_mandate_reference_that_is_not_a_number_is_refused_on_its_field(console: TestClient) -> None:
    form = _form(console, **{"granted_by.scope": ["REFERRAL"], "granted_by.mandate_ref": "voir le dossier; jugement"})
    page = console.post(f"{PAGE}/consentements", data=form)
    assert page.status_code == 422
    assert 'id="e-granted_by-mandate_ref">un numéro (lettres, chiffres' in _text(page)
    assert _checked(page, "granted_by.scope") == {"REFERRAL"}


def test_the_persons_own_consent_carries_no_mandate_even_with_boxes_left_checked(
    console: TestClient, consent_service: TestClient, auth: Auth
) -> None:
    """Boxes checked under a representative's role, then the role changed: the mandate field is hidden, not sent."""
    form = _form(console, **{"granted_by.role": "SELF", "granted_by.scope": ["REFERRAL"]})
    assert console.post(f"{PAGE}/consentements", data=form, follow_redirects=False).status_code == 303
    [consent] = _consents(consent_service, auth)
    assert consent["granted_by"] == {"role": "SELF", "mandate_ref": None, "scope": None}


def test_the_form_asks_for_a_mandate_from_the_roles_the_consent_services_rules_do(console: TestClient) -> None:
    for regime, version in CURRENT_VERSION.items():
        table = table_for(regime, version)
        within = {role for role in GrantorRole if (rule := table.grantor(role)) and rule.within_stated_mandate}
        assert within == REPRESENTATIVES, regime
    page = console.get(PAGE)
    marked = set(re.findall(r'<option value="([A-Z_]+)"\s*(?:selected)?\s*data-marked>', page.text))
    assert marked == {role.value for role in REPRESENTATIVES}
    assert '<div class="mandate">' in page.text and 'class="consent"' in page.text


def test_the_consent_names_the_organisations_that_communicate_the_sender_checked_by_default(
    console: TestClient, consent_service: TestClient, auth: Auth
) -> None:
    """From the consent service's tables of 2026-12-03, a consent counts for the organisation that recorded it and
    for the disclosers it names: the form asks which ("Organisations qui communiquent"), the referral's sender
    checked by default (the person consents to this referral's communication)."""
    page = console.get(PAGE)
    assert "Organisations qui communiquent" in _text(page)
    sender = re.search(r'name="disclosers" value="([^"]+)" checked', page.text)
    assert sender, "the referral's sender is checked"
    form = _form(console, **{"granted_by.role": "SELF", "disclosers": [sender.group(1)]})
    done = console.post(f"{PAGE}/consentements", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    [consent] = _consents(consent_service, auth)
    assert consent["disclosers"] == [sender.group(1)]


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("valid_until", "2000-01-01", {"fr": "doit être après le début du consentement", "en": "must be after the"}),
        ("subject_birth_date", "2099-01-01", {"fr": "ne peut pas être dans le futur", "en": "cannot be in the future"}),
    ],
)
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_consent_services_own_checks_come_back_on_their_field_in_the_users_language(
    console: TestClient, lang: str, field: str, value: str, said: dict[str, str]
) -> None:
    """The consent service's domain checks (type `validation`) answer in English: the console says them itself."""
    console.get(f"/langue/{lang}?suivant={PAGE}")
    form = _form(console, **{"granted_by.role": "SELF", field: value})
    page = console.post(f"{PAGE}/consentements", data=form)
    assert page.status_code == 422
    text = _text(page)
    assert f'<p class="field-error" id="e-{field}">{said[lang]}' in text
    assert "must be after the start" not in text and "is in the future" not in text  # never the service's words
