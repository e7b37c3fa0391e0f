"""Record information: encrypted at rest, never in events, released only on a consent decision."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.referral.ports import Coverage
from services.referral.settings import ReferralSettings
from tests.referral.conftest import ReferralService, body

Auth = Callable[..., dict[str, str]]
INFO = {"IDENTIFICATION": "Synthetic Person 0001", "CONTACT": "555-0100", "ASSESSMENT": "synthetic assessment text"}


def submit_with_information(service: ReferralService, auth: Auth) -> str:
    response = service.client.post("/v1/referrals", json=body(information=INFO), headers=auth("csss-a", "intake"))
    assert response.status_code == 201
    return str(response.json()["id"])


def read(service: ReferralService, auth: Auth, rid: str, query: str = "", org: str = "org-b") -> Any:
    return service.client.get(f"/v1/referrals/{rid}/information{query}", headers=auth(org, "clinician"))


def test_only_the_permitted_categories_are_returned(service: ReferralService, auth: Auth) -> None:
    rid = submit_with_information(service, auth)
    service.gate.permitted = {"IDENTIFICATION", "CONTACT"}
    response = read(service, auth, rid)
    assert response.status_code == 200
    assert response.json()["information"] == {"IDENTIFICATION": INFO["IDENTIFICATION"], "CONTACT": INFO["CONTACT"]}
    assert response.json()["denied_categories"] == ["ASSESSMENT"]
    request = service.gate.requests[-1]
    assert (request.discloser_org_id, request.recipient_org_id, request.purpose) == ("csss-a", "org-b", "REFERRAL")
    assert sorted(request.categories) == sorted(INFO)


def test_a_denial_is_a_403_naming_the_reasons_and_nothing_else(service: ReferralService, auth: Auth) -> None:
    rid = submit_with_information(service, auth)
    response = read(service, auth, rid, "?categories=ASSESSMENT")
    assert response.status_code == 403
    problem = response.json()
    assert problem["type"].endswith("disclosure-denied")
    assert problem["denied_categories"] == ["ASSESSMENT"]
    assert problem["detail"] == "No consent covers this disclosure."
    assert INFO["ASSESSMENT"] not in response.text


def test_under_a_service_agreement_the_purpose_is_service_on_behalf(service: ReferralService, auth: Auth) -> None:
    service.directory.coverages[("csss-a", "org-b")] = Coverage("agr-108", "SERVICE_108")
    rid = submit_with_information(service, auth)
    service.gate.permitted = {"IDENTIFICATION"}
    assert read(service, auth, rid).status_code == 200
    assert service.gate.requests[-1].purpose == "SERVICE_ON_BEHALF"


def test_only_the_receiving_organisation_reads_information(service: ReferralService, auth: Auth) -> None:
    rid = submit_with_information(service, auth)
    service.gate.permitted = set(INFO)
    assert read(service, auth, rid, org="csss-a").status_code == 403
    assert read(service, auth, rid, org="org-z").status_code == 404
    auditor = service.client.get(f"/v1/referrals/{rid}/information", headers=auth("org-b", "auditor"))
    assert auditor.status_code == 403
    assert read(service, auth, rid, "?categories=NOT_A_CATEGORY").status_code == 422
    assert service.gate.requests == []  # none of those reached the consent service


def test_information_is_encrypted_at_rest_and_absent_from_events(
    service_settings: Callable[..., Any], tmp_path: Path, auth: Auth, client_for: Callable[..., Any]
) -> None:
    from services.referral.main import build_app
    from tests.referral.conftest import FakeDirectory, FakeGate

    settings = service_settings(ReferralSettings, event_store=f"sqlite:///{tmp_path / 'referral.db'}")
    app = build_app(settings)
    app.state.gateways = lambda token: (FakeDirectory(), FakeGate(permitted=set(INFO)))
    client = client_for(app)
    rid = client.post("/v1/referrals", json=body(information=INFO), headers=auth("csss-a", "intake")).json()["id"]
    stored = (tmp_path / "referral.db").read_bytes() + (tmp_path / "referral-vault.db").read_bytes()
    for text in INFO.values():
        assert text.encode() not in stored
    referrals = app.state.application
    assert client.get(f"/v1/referrals/{rid}/information", headers=auth("org-b", "clinician")).status_code == 200
    assert referrals.vault.erase_subject("S-0001")  # crypto-shredding: the key goes, the ciphertext stays
    erased = client.get(f"/v1/referrals/{rid}/information", headers=auth("org-b", "clinician"))
    assert erased.status_code == 410
    assert referrals.get_referral(uuid.UUID(rid)).status == "SUBMITTED"  # the history is intact
