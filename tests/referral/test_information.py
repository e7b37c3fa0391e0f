"""Record information: encrypted at rest, never in events, released only on a consent decision."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.clock import ManualClock
from services.referral.application import Referrals, Submission
from services.referral.domain import ReferralIdempotencyConflictError, SubjectErasedError, referral_id_for
from services.referral.gateways import HttpDirectory, TtlCache
from services.referral.ports import Coverage
from services.referral.settings import ReferralSettings
from services.referral.vault import Vault
from tests.referral.conftest import T0, ReferralService, body
from tests.referral.fakes import FakeDirectory

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
    assert problem["detail"] == "Nothing permits this disclosure for purpose REFERRAL."
    assert INFO["ASSESSMENT"] not in response.text


def on_behalf(
    service: ReferralService, *, clause: set[str], consent: set[str], barred: frozenset[str] = frozenset()
) -> None:
    """The receiver provides the referral's service on the sender's behalf (art. 108) under an agreement whose
    information clause carries `clause`: the consent service permits the clause but `barred` (the person's
    restriction, a sensitive category) for SERVICE_ON_BEHALF, and `consent` for REFERRAL."""
    coverage = Coverage("agr-108", "SERVICE_108", on_behalf=True, clause_categories=tuple(sorted(clause)))
    service.directory.coverages[("csss-a", "org-b")] = coverage
    service.gate.by_purpose = {"SERVICE_ON_BEHALF": clause - barred, "REFERRAL": consent}


def asked(service: ReferralService) -> list[tuple[str, list[str]]]:
    return [(request.purpose, request.categories) for request in service.gate.requests]


def test_a_service_provided_on_the_institutions_behalf_asks_service_on_behalf(
    service: ReferralService, auth: Auth
) -> None:
    """The clause carries every category: nothing more is asked (each decision that permits is a disclosure)."""
    on_behalf(service, clause=set(INFO), consent=set(INFO))
    rid = submit_with_information(service, auth)
    response = read(service, auth, rid)
    assert response.status_code == 200
    assert asked(service) == [("SERVICE_ON_BEHALF", sorted(INFO))]
    assert service.gate.requests[0].recipient_service == "SOCIAL_CONSULT"
    assert [d["purpose"] for d in response.json()["decisions"]] == ["SERVICE_ON_BEHALF"]


def test_the_categories_outside_the_clause_are_asked_by_the_persons_consent_to_the_referral(
    service: ReferralService, auth: Auth
) -> None:
    """The clause's categories are asked for SERVICE_ON_BEHALF, the others for REFERRAL: each category once, on one
    basis; the release is the union, and says which decision released what."""
    on_behalf(service, clause={"IDENTIFICATION"}, consent={"IDENTIFICATION", "CONTACT"})
    rid = submit_with_information(service, auth)
    response = read(service, auth, rid)
    assert response.status_code == 200
    assert asked(service) == [("SERVICE_ON_BEHALF", ["IDENTIFICATION"]), ("REFERRAL", ["ASSESSMENT", "CONTACT"])]
    assert service.gate.requests[1].recipient_service == "SOCIAL_CONSULT"
    released = response.json()
    assert released["information"] == {"IDENTIFICATION": INFO["IDENTIFICATION"], "CONTACT": INFO["CONTACT"]}
    assert released["denied_categories"] == ["ASSESSMENT"]
    assert released["decisions"] == [
        {
            "decision_id": "d-1",
            "purpose": "SERVICE_ON_BEHALF",
            "permitted_categories": ["IDENTIFICATION"],
            "denied_categories": [],
            "register_entry_id": "r-1",
        },
        {
            "decision_id": "d-2",
            "purpose": "REFERRAL",
            "permitted_categories": ["CONTACT"],
            "denied_categories": ["ASSESSMENT"],
            "register_entry_id": "r-2",
        },
    ]
    assert (released["decision_id"], released["register_entry_id"]) == ("d-1", "r-1")
    assert released["basis"] == [{"route": "SERVICE_ON_BEHALF"}, {"route": "REFERRAL"}]
    assert released["obligations"] == ["REGISTER_ENTRY"]
    assert released["undecided"] is None


def test_a_clause_category_the_on_behalf_decision_denies_is_not_asked_again(
    service: ReferralService, auth: Auth
) -> None:
    """A bar on the clause's decision (the person restricted disclosures on the institution's behalf to this
    receiver) holds: the person's consent to the referral is asked only for what the clause does not carry, even
    when it names the barred categories."""
    on_behalf(service, clause={"IDENTIFICATION", "CONTACT"}, barred=frozenset({"CONTACT"}), consent=set(INFO))
    rid = submit_with_information(service, auth)
    released = read(service, auth, rid).json()
    assert asked(service) == [("SERVICE_ON_BEHALF", ["CONTACT", "IDENTIFICATION"]), ("REFERRAL", ["ASSESSMENT"])]
    assert released["information"] == {"IDENTIFICATION": INFO["IDENTIFICATION"], "ASSESSMENT": INFO["ASSESSMENT"]}
    assert released["denied_categories"] == ["CONTACT"]
    assert [(d["purpose"], d["denied_categories"]) for d in released["decisions"]] == [
        ("SERVICE_ON_BEHALF", ["CONTACT"]),
        ("REFERRAL", []),
    ]


def test_a_release_by_consent_alone_is_named_by_the_consents_decision(service: ReferralService, auth: Auth) -> None:
    """The clause's decision releases nothing: the decision and register entry a client of one decision reads are
    those of the decision that released something."""
    on_behalf(service, clause={"IDENTIFICATION"}, barred=frozenset({"IDENTIFICATION"}), consent=set(INFO))
    rid = submit_with_information(service, auth)
    released = read(service, auth, rid).json()
    assert released["information"] == {c: INFO[c] for c in ("CONTACT", "ASSESSMENT")}
    assert released["denied_categories"] == ["IDENTIFICATION"]
    assert (released["decision_id"], released["register_entry_id"]) == ("d-2", "r-2")
    assert [(d["purpose"], d["register_entry_id"]) for d in released["decisions"]] == [
        ("SERVICE_ON_BEHALF", None),
        ("REFERRAL", "r-2"),
    ]
    assert released["basis"] == [{"route": "REFERRAL"}]


def test_refused_on_both_bases_the_worker_reads_each_decisions_reasons(service: ReferralService, auth: Auth) -> None:
    """Each category was refused by the decision that decided it: the refusal gives each one's reasons, in the order
    asked, and names the last (REFERRAL, the purpose the person consented to)."""
    on_behalf(service, clause={"IDENTIFICATION"}, barred=frozenset({"IDENTIFICATION"}), consent=set())
    rid = submit_with_information(service, auth)
    response = read(service, auth, rid)
    assert response.status_code == 403
    problem = response.json()
    assert (problem["decision_id"], problem["denied_categories"]) == (
        "d-2",
        ["ASSESSMENT", "CONTACT", "IDENTIFICATION"],
    )
    assert problem["detail"] == (
        "Nothing permits this disclosure for purpose SERVICE_ON_BEHALF. "
        "Nothing permits this disclosure for purpose REFERRAL."
    )
    assert [purpose for purpose, _ in asked(service)] == ["SERVICE_ON_BEHALF", "REFERRAL"]


def test_a_clause_without_categories_asks_for_consent_alone(service: ReferralService, auth: Auth) -> None:
    """On the institution's behalf under an agreement whose clause carries none of the categories asked, or none at
    all, the clause is not asked: one decision, for REFERRAL, which the refusal is."""
    on_behalf(service, clause=set(), consent=set())
    rid = submit_with_information(service, auth)
    problem = read(service, auth, rid).json()
    assert (problem["decision_id"], problem["detail"]) == (
        "d-1",
        "Nothing permits this disclosure for purpose REFERRAL.",
    )
    on_behalf(service, clause={"HEALTH"}, consent=set(INFO))
    assert read(service, auth, rid).status_code == 200
    assert asked(service) == [("REFERRAL", sorted(INFO))] * 2


def test_when_the_consent_decision_fails_what_the_clause_permitted_is_released(
    service: ReferralService, auth: Auth
) -> None:
    """The clause's decision permitted (and registered) a category, then the consent service failed on the rest: the
    registered disclosure is released, the rest reported as undecided, not a failed read a retry registers again."""
    on_behalf(service, clause={"IDENTIFICATION"}, consent=set(INFO))
    service.gate.down = {"REFERRAL"}
    rid = submit_with_information(service, auth)
    response = read(service, auth, rid)
    assert response.status_code == 200, response.text
    released = response.json()
    assert released["information"] == {"IDENTIFICATION": INFO["IDENTIFICATION"]}
    assert released["denied_categories"] == ["ASSESSMENT", "CONTACT"]
    assert [d["purpose"] for d in released["decisions"]] == ["SERVICE_ON_BEHALF"]
    undecided = released["undecided"]
    assert (undecided["purpose"], undecided["categories"]) == ("REFERRAL", ["ASSESSMENT", "CONTACT"])
    assert undecided["explanation"].startswith("The consent service gave no decision on these categories for REFERRAL")
    assert "consent service answered 503" in undecided["explanation"]
    assert INFO["CONTACT"] not in response.text


@pytest.mark.parametrize(
    ("barred", "down"), [(frozenset({"IDENTIFICATION"}), "REFERRAL"), (frozenset(), "SERVICE_ON_BEHALF")]
)
def test_a_failure_before_anything_was_permitted_fails_the_read(
    service: ReferralService, auth: Auth, barred: frozenset[str], down: str
) -> None:
    """Nothing permitted, nothing registered: the read fails as before (503, retry), and nothing more is asked after
    the failure."""
    on_behalf(service, clause={"IDENTIFICATION"}, barred=barred, consent=set(INFO))
    service.gate.down = {down}
    rid = submit_with_information(service, auth)
    response = read(service, auth, rid)
    assert response.status_code == 503
    assert response.json()["type"].endswith(":dependency-unavailable")
    assert [purpose for purpose, _ in asked(service)][-1] == down


def test_a_clause_the_agreements_service_does_not_name_decides_every_category(
    service: ReferralService, auth: Auth
) -> None:
    """An agreements service older than `clause_categories` says only `on_behalf`: every category is asked for
    SERVICE_ON_BEHALF (the consent service applies the clause it knows), none by a consent that could pass over a
    bar on the clause."""
    service.directory.coverages[("csss-a", "org-b")] = Coverage("agr-108", "SERVICE_108", on_behalf=True)
    service.gate.by_purpose = {"SERVICE_ON_BEHALF": {"IDENTIFICATION"}, "REFERRAL": set(INFO)}
    rid = submit_with_information(service, auth)
    released = read(service, auth, rid).json()
    assert asked(service) == [("SERVICE_ON_BEHALF", sorted(INFO))]
    assert released["information"] == {"IDENTIFICATION": INFO["IDENTIFICATION"]}


def test_the_directory_reads_the_clause_the_agreements_service_names() -> None:
    """`GET /v1/coverage` names the clause's categories on the institution's behalf (empty: none); an older answer
    without the field leaves the clause unknown (None), not empty."""
    answers = iter(
        [
            {"agreement_id": "agr-108", "kind": "SERVICE_108", "on_behalf": True, "clause_categories": ["CONTACT"]},
            {"agreement_id": "agr-108", "kind": "SERVICE_108", "on_behalf": True, "clause_categories": []},
            {"agreement_id": "agr-108", "kind": "SERVICE_108", "on_behalf": True},
        ]
    )
    client = httpx.Client(
        base_url="http://agreements", transport=httpx.MockTransport(lambda r: httpx.Response(200, json=next(answers)))
    )
    directory = HttpDirectory(client, "token", TtlCache(0))
    at = datetime.now(UTC)
    clauses = [directory.coverage("csss-a", "org-b", "CRISIS_24_7", at).clause_categories for _ in range(3)]
    assert clauses == [("CONTACT",), (), None]


def test_under_the_clause_too_only_what_would_be_disclosed_is_asked(service: ReferralService, auth: Auth) -> None:
    """Both decisions keep the release's guarantees: only the categories held (none held: nothing asked), nothing
    once the person is erased (410), nothing once the referral has ended."""
    on_behalf(service, clause={"IDENTIFICATION"}, consent=set(INFO))
    rid = submit_with_information(service, auth)
    assert read(service, auth, rid, "?categories=HEALTH").json()["decisions"] == []
    assert read(service, auth, rid, "?categories=HEALTH,CONTACT").json()["information"] == {"CONTACT": INFO["CONTACT"]}
    assert read(service, auth, rid, "?categories=IDENTIFICATION").json()["information"] == {
        "IDENTIFICATION": INFO["IDENTIFICATION"]
    }
    assert asked(service) == [("REFERRAL", ["CONTACT"]), ("SERVICE_ON_BEHALF", ["IDENTIFICATION"])]
    cancelled = service.client.post(f"/v1/referrals/{rid}/cancel", headers=auth("csss-a", "clinician"))
    assert cancelled.status_code == 200
    assert read(service, auth, rid).json()["type"].endswith(":referral-ended")
    other = submit_with_information(service, auth)
    assert service.app.state.application.vault.erase_subject("S-0001")
    assert read(service, auth, other).status_code == 410
    assert len(service.gate.requests) == 2


def test_any_other_referral_under_a_service_agreement_asks_for_consent(service: ReferralService, auth: Auth) -> None:
    """A 108 agreement in either direction, or for another service of the partner, carries nothing by itself: one
    decision, for REFERRAL, even when it denies some categories."""
    service.directory.coverages[("csss-a", "org-b")] = Coverage("agr-108", "SERVICE_108", on_behalf=False)
    rid = submit_with_information(service, auth)
    service.gate.permitted = {"IDENTIFICATION"}
    assert read(service, auth, rid).status_code == 200
    assert asked(service) == [("REFERRAL", sorted(INFO))]


def test_the_purpose_follows_the_agreement_at_the_time_of_the_read(service: ReferralService, auth: Auth) -> None:
    """An agreement amended after the submission decides: the release happens now, not at submission."""
    service.directory.coverages[("csss-a", "org-b")] = Coverage("agr-108", "SERVICE_108", on_behalf=False)
    rid = submit_with_information(service, auth)
    service.gate.permitted = set(INFO)
    service.directory.coverages[("csss-a", "org-b")] = Coverage("agr-108", "SERVICE_108", on_behalf=True)
    read(service, auth, rid)
    assert [purpose for purpose, _ in asked(service)] == ["SERVICE_ON_BEHALF"]


def test_only_the_receiving_organisation_reads_information(service: ReferralService, auth: Auth) -> None:
    rid = submit_with_information(service, auth)
    service.gate.permitted = set(INFO)
    assert read(service, auth, rid, org="csss-a").status_code == 403
    assert read(service, auth, rid, org="org-z").status_code == 404
    auditor = service.client.get(f"/v1/referrals/{rid}/information", headers=auth("org-b", "auditor"))
    assert auditor.status_code == 403
    assert read(service, auth, rid, "?categories=NOT_A_CATEGORY").status_code == 422
    assert service.gate.requests == []  # none of those reached the consent service


NOTHING_RELEASED = {
    "decision_id": None,
    "information": {},
    "denied_categories": [],
    "basis": [],
    "obligations": [],
    "register_entry_id": None,
    "decisions": [],
    "undecided": None,
}


def test_the_consent_service_is_asked_only_for_the_categories_the_referral_holds(
    service: ReferralService, auth: Auth
) -> None:
    """It registers what it permits: asked for a category the vault does not hold, it would register a disclosure
    that never happens."""
    response = service.client.post(
        "/v1/referrals", json=body(information={"CONTACT": INFO["CONTACT"]}), headers=auth("csss-a", "intake")
    )
    rid = response.json()["id"]
    service.gate.permitted = {"CONTACT", "HEALTH", "YOUTH_PROTECTION"}
    none_held = read(service, auth, rid, "?categories=HEALTH,YOUTH_PROTECTION")
    assert (none_held.status_code, none_held.json()) == (200, NOTHING_RELEASED)
    assert service.gate.requests == []
    some_held = read(service, auth, rid, "?categories=HEALTH,CONTACT,CONTACT")
    assert some_held.status_code == 200
    assert some_held.json()["information"] == {"CONTACT": INFO["CONTACT"]}
    assert some_held.json()["denied_categories"] == []
    assert [request.categories for request in service.gate.requests] == [["CONTACT"]]


def test_a_referral_without_information_releases_nothing_and_asks_nothing(service: ReferralService, auth: Auth) -> None:
    """Not a 503 (the consent service refuses an empty list of categories) nor a 403 (nothing was denied)."""
    rid = service.client.post("/v1/referrals", json=body(), headers=auth("csss-a", "intake")).json()["id"]
    response = read(service, auth, rid)
    assert (response.status_code, response.json()) == (200, NOTHING_RELEASED)
    assert service.gate.requests == []


def test_after_the_persons_erasure_the_consent_service_is_not_asked(service: ReferralService, auth: Auth) -> None:
    rid = submit_with_information(service, auth)
    service.gate.permitted = set(INFO)
    assert service.app.state.application.vault.erase_subject("S-0001")
    for query in ("", "?categories=CONTACT"):
        erased = read(service, auth, rid, query)
        assert erased.status_code == 410
        assert erased.json()["type"].endswith(":information-erased")
    assert service.gate.requests == [], "no disclosure registered for information that cannot be read"


@pytest.mark.parametrize(
    ("steps", "status"),
    [
        ([("refuse", "org-b", {"reason": "no capacity"})], "REFUSED"),
        ([("cancel", "csss-a", {})], "CANCELLED"),
        (
            [("receive", "org-b", {}), ("accept", "org-b", {}), ("close", "org-b", {"outcome": "SERVICES_RENDERED"})],
            "CLOSED",
        ),
    ],
)
def test_information_is_released_only_while_the_referral_is_live(
    service: ReferralService, auth: Auth, steps: list[tuple[str, str, dict[str, str]]], status: str
) -> None:
    """Minimum necessary: a refused, cancelled or closed referral's information is no longer released (nor asked
    of the consent service, which would register it); the 403 names the referral's status."""
    rid = submit_with_information(service, auth)
    service.gate.permitted = set(INFO)
    assert read(service, auth, rid).status_code == 200
    for command, org, payload in steps:
        done = service.client.post(
            f"/v1/referrals/{rid}/{command}", json=payload or None, headers=auth(org, "clinician")
        )
        assert done.status_code == 200, done.text
    asked = len(service.gate.requests)
    ended = read(service, auth, rid)
    assert ended.status_code == 403
    problem = ended.json()
    assert problem["type"].endswith(":referral-ended")
    assert problem["referral_status"] == status and status in problem["detail"]
    assert INFO["CONTACT"] not in ended.text
    assert len(service.gate.requests) == asked
    assert read(service, auth, rid, org="csss-a").json()["type"].endswith(":forbidden"), "still the receiver's only"


def test_after_a_redirect_the_new_receiver_reads_and_the_former_does_not(service: ReferralService, auth: Auth) -> None:
    rid = submit_with_information(service, auth)
    service.gate.permitted = set(INFO)
    redirected = service.client.post(
        f"/v1/referrals/{rid}/redirect",
        json={"to_org": "org-c", "to_service": "SOCIAL_CONSULT"},
        headers=auth("org-b", "clinician"),
    )
    assert redirected.status_code == 200
    assert read(service, auth, rid, org="org-b").status_code == 404, "no longer a party: it does not see it"
    assert read(service, auth, rid, org="org-c").status_code == 200
    assert [request.recipient_org_id for request in service.gate.requests] == ["org-c"]


def test_information_is_encrypted_at_rest_and_absent_from_events(
    service_settings: Callable[..., Any], tmp_path: Path, auth: Auth, client_for: Callable[..., Any]
) -> None:
    from services.referral.main import build_app
    from tests.referral.fakes import FakeGate, fake_gateways

    settings = service_settings(ReferralSettings, event_store=f"sqlite:///{tmp_path / 'referral.db'}")
    app = build_app(settings)
    app.state.gateways = lambda token: fake_gateways(gate=FakeGate(permitted=set(INFO)))
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


TEST_VAULT_KEY = b"\1" * 32


class OutpacedVault(Vault):
    """Another submission runs to its end just before this vault's first write (the race a retry can lose)."""

    rival: Callable[[], object] | None = None

    def store(self, referral_id: str, subject_id: str, information: Mapping[str, str]) -> None:
        rival, self.rival = self.rival, None
        if rival is not None:
            rival()
        super().store(referral_id, subject_id, information)


def test_a_concurrent_submission_reusing_the_key_never_leaves_its_information_on_the_other_referral() -> None:
    vault = OutpacedVault("memory://", TEST_VAULT_KEY)
    referrals = Referrals(clock=ManualClock(T0), vault=vault)
    first = Submission(**body(subject_id="S-0001"), accompaniment="NONE", agreement_id=None)
    second = replace(first, subject_id="S-0002")
    outcomes: list[object] = []

    def submit(submission: Submission, text: str) -> None:
        try:
            outcomes.append(referrals.submit(submission, "worker", "key-1", FakeDirectory(), {"CONTACT": text}))
        except ReferralIdempotencyConflictError as conflict:
            outcomes.append(conflict)

    vault.rival = lambda: submit(first, "first person's contact")
    submit(second, "second person's contact")

    referral = referrals.get_referral(referral_id_for("csss-a", "key-1"))
    expected = "first person's contact" if referral.subject_id == "S-0001" else "second person's contact"
    assert vault.read(str(referral.id), ["CONTACT"]) == {"CONTACT": expected}
    assert sum(isinstance(o, ReferralIdempotencyConflictError) for o in outcomes) == 1


def test_a_retry_completes_the_information_of_an_interrupted_submission_but_never_brings_back_an_erased_one() -> None:
    referrals = Referrals(clock=ManualClock(T0), vault=Vault("memory://", TEST_VAULT_KEY))
    submission = Submission(**body(), accompaniment="NONE", agreement_id=None)
    information = {"CONTACT": "555-0100"}
    referral, _ = referrals.submit(submission, "worker", "key-1", FakeDirectory(), information)
    rid = str(referral.id)
    referrals.vault = Vault("memory://", TEST_VAULT_KEY)  # as if the process stopped before the information was stored

    referrals.submit(submission, "worker", "key-1", FakeDirectory(), information)
    assert referrals.vault.read(rid, ["CONTACT"]) == information

    referrals.vault.erase_subject("S-0001")
    referrals.submit(submission, "worker", "key-1", FakeDirectory(), information)
    with pytest.raises(SubjectErasedError):
        referrals.vault.read(rid, ["CONTACT"])


@pytest.mark.parametrize("query", ["?categories=", "?categories=,", "?categories=%20,%20"])
def test_asking_for_no_category_is_a_422_not_every_category(service: ReferralService, auth: Auth, query: str) -> None:
    """A present `categories` naming none asked the consent service, and registered a disclosure, for every category
    the referral holds (minimum necessary); only an absent parameter means every category."""
    rid = submit_with_information(service, auth)
    service.gate.permitted = set(INFO)
    asked_before = len(service.gate.requests)
    response = read(service, auth, rid, query)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "categories"
    assert len(service.gate.requests) == asked_before
