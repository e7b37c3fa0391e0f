"""Who may consent, when and within what (consent-rules.md, "Who may consent"; legal review of 2026-12-02).

"The user, if 14 or older. Under 14: the holder of parental authority or the tutor." -- at the time the consent is
given too, not only when it starts and when it is used. "An inapt adult: tutor, curator, mandatary (protection
mandate), or the person who may consent to care -- only within that mandate": a representative's consent that does
not state what the mandate covers permits nothing. The tables of 2026-12-01 keep deciding as they decided.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.clock import ManualClock
from services.consent.application import Consents
from services.consent.domain import Consent, ConsentTermsInvalidError
from services.consent.engine import evaluate
from services.consent.explain import explain
from services.consent.policy import AgeBand, Decision, ReasonCode
from services.consent.rules import CURRENT_VERSION, build_tables, version_of
from services.contract.codes import GrantorRole, Outcome, Purpose, Regime
from tests.consent.conftest import DISCLOSER, T0, consent_fact, decision_input, facts
from tests.consent.test_api import CONSENT, _events
from tests.consent.test_application import WORKER, request, terms
from tests.consent.test_endings import _refused_naming

Auth = Callable[..., dict[str, str]]
LSSSS, LRSSS = Regime.LSSSS_17_27_3, Regime.LRSSS
REPRESENTATIVES = (GrantorRole.TUTOR, GrantorRole.CURATOR, GrantorRole.MANDATARY, GrantorRole.CARE_SUBSTITUTE)
VERSION_2026_12_01 = {LSSSS: "2026-12-01+0e37e521936f", LRSSS: "2026-12-01+f032778b79e3"}
VERSION_2026_12_02 = {LSSSS: "2026-12-02+f35ffd4a6d30", LRSSS: "2026-12-02+932124006a2c"}
"""The versions decisions recorded under the tables of 2026-12-02 name (what this file's rules were decided under)."""
"""The versions decisions recorded under the tables of 2026-12-01 name: they must stay known, with these digests."""

BORN = date(2012, 11, 26)
"""13 on T0 (2026-11-25 in Québec), 14 from the next day."""
BIRTHDAY = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
"""00:00 on 2026-11-26 in Québec."""


def _decide(version: dict[Regime, str], regime: Regime, **consent: Any) -> Decision:
    ends = {"valid_until": T0 + timedelta(days=30)}  # the LRSSS takes only a consent limited in time
    return evaluate(
        decision_input(regime, regime_version=version[regime]),
        facts(consents=(consent_fact(given_at=T0 - timedelta(days=30), **ends, **consent),)),
    )


def _reasons(decision: Decision) -> list[tuple[ReasonCode, str | None]]:
    return [(r.code, r.detail) for r in decision.reasons]


def test_the_2026_12_01_tables_keep_their_versions() -> None:
    assert {r: version_of(t) for r, t in build_tables(label="2026-12-01").items()} == VERSION_2026_12_01
    assert {r: version_of(t) for r, t in build_tables(label="2026-12-02").items()} == VERSION_2026_12_02
    assert all(v.startswith("2026-12-05+") for v in CURRENT_VERSION.values()), "and still apply in the current ones"


# --- the person's age when the consent was given ----------------------------------------------------------------


@pytest.mark.parametrize("regime", [LSSSS, LRSSS])
def test_a_consent_a_13_year_old_gave_does_not_count_once_they_are_14(regime: Regime) -> None:
    given_at_13 = {
        "age_band_when_given": AgeBand.UNDER_14,
        "age_band_at_start": AgeBand.MINOR_14_TO_17,
        "age_band_at_decision": AgeBand.MINOR_14_TO_17,
    }
    now = _decide(CURRENT_VERSION, regime, **given_at_13)
    assert now.outcome == Outcome.DENY
    assert (ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE, "SELF:UNDER_14") in _reasons(now)
    assert _decide(VERSION_2026_12_01, regime, **given_at_13).outcome == Outcome.PERMIT, "as it was decided"
    unknown = _decide(CURRENT_VERSION, regime, age_band_when_given=None)
    assert (ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE, "SELF:UNKNOWN") in _reasons(unknown)


def test_recording_a_13_year_olds_own_consent_that_starts_on_their_14th_birthday_is_refused(
    consents: Consents,
) -> None:
    with pytest.raises(ConsentTermsInvalidError) as refused:
        consents.record_consent(terms(subject_birth_date=BORN, valid_from=BIRTHDAY), WORKER)
    assert refused.value.field == "granted_by.role"
    assert consents.list_consents(terms().subject_id) == []


def test_recording_a_parents_consent_that_starts_once_the_person_is_14_is_refused(consents: Consents) -> None:
    with pytest.raises(ConsentTermsInvalidError) as refused:
        consents.record_consent(terms(subject_birth_date=BORN, grantor_role="PARENT", valid_from=BIRTHDAY), WORKER)
    assert refused.value.field == "granted_by.role"
    consents.record_consent(terms(subject_birth_date=BORN, grantor_role="PARENT"), WORKER)  # 13 throughout: valid


@pytest.fixture
def unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Consents recorded as they were before the check at recording (stored consents stay on file)."""
    monkeypatch.setattr(Consents, "_check_grantor", lambda self, terms: None)


def test_a_consent_stored_from_a_13_year_old_permits_nothing_after_their_birthday(
    consents: Consents, clock: ManualClock, unchecked: None
) -> None:
    consent, _ = consents.record_consent(terms(subject_birth_date=BORN, valid_from=BIRTHDAY), WORKER)
    assert consent.recorded_at == T0  # given (recorded) while the person is 13
    clock.advance(timedelta(days=2))  # 14 now

    recorded, _ = consents.disclose(request(), WORKER)
    fact = recorded.facts.consents[0]
    assert fact.age_band_when_given == AgeBand.UNDER_14 and fact.age_band_at_start == AgeBand.MINOR_14_TO_17
    assert recorded.decision.outcome == Outcome.DENY and recorded.register_entry_id is None
    assert recorded.decision.reasons[0].code == ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE


def test_the_same_consent_given_on_their_14th_birthday_counts(consents: Consents, clock: ManualClock) -> None:
    clock.advance(BIRTHDAY - T0)
    consents.record_consent(terms(subject_birth_date=BORN, valid_from=BIRTHDAY), WORKER)
    recorded, _ = consents.disclose(request(), WORKER)
    assert recorded.facts.consents[0].age_band_when_given == AgeBand.MINOR_14_TO_17
    assert recorded.decision.outcome == Outcome.PERMIT and recorded.register_entry_id is not None


# --- representatives: only within the mandate stated ------------------------------------------------------------


@pytest.mark.parametrize("role", REPRESENTATIVES)
@pytest.mark.parametrize("regime", [LSSSS, LRSSS])
def test_a_representatives_consent_that_states_no_mandate_permits_nothing(regime: Regime, role: GrantorRole) -> None:
    now = _decide(CURRENT_VERSION, regime, grantor_role=role, grantor_scope=None)
    assert now.outcome == Outcome.DENY
    assert (ReasonCode.GRANTOR_MANDATE_NOT_STATED, role.value) in _reasons(now)
    assert "without stating the purposes their mandate covers" in explain(now, "en")
    assert "sans préciser les fins que couvre son mandat" in explain(now, "fr")
    assert _decide(VERSION_2026_12_01, regime, grantor_role=role, grantor_scope=None).outcome == Outcome.PERMIT


@pytest.mark.parametrize("role", [GrantorRole.SELF, GrantorRole.PARENT])
def test_the_person_or_a_parent_needs_no_mandate(role: GrantorRole) -> None:
    band = AgeBand.UNDER_14 if role == GrantorRole.PARENT else AgeBand.ADULT
    bands = {"age_band_when_given": band, "age_band_at_start": band, "age_band_at_decision": band}
    assert _decide(CURRENT_VERSION, LSSSS, grantor_role=role, grantor_scope=None, **bands).outcome == Outcome.PERMIT


def test_a_mandatarys_consent_counts_only_for_the_purposes_of_the_stated_mandate(consents: Consents) -> None:
    consents.record_consent(
        terms(
            grantor_role="MANDATARY",
            grantor_mandate_ref="500-14-000001-199",
            grantor_scope=("REFERRAL",),
            purposes=("REFERRAL", "JOINT_FOLLOW_UP", "LEGAL_ORDER"),
        ),
        WORKER,
    )
    assert consents.decide(request(), WORKER)[0].decision.outcome == Outcome.PERMIT
    for purpose in (Purpose.JOINT_FOLLOW_UP, Purpose.LEGAL_ORDER):
        outside, _ = consents.decide(request(purpose=purpose), WORKER)
        assert outside.decision.outcome == Outcome.DENY, purpose
        assert (ReasonCode.GRANTOR_OUTSIDE_ROLE, f"MANDATARY:{purpose}") in _reasons(outside.decision)


def test_a_mandatarys_consent_stored_without_a_mandate_covers_no_purpose(consents: Consents, unchecked: None) -> None:
    consents.record_consent(
        terms(grantor_role="MANDATARY", purposes=("JOINT_FOLLOW_UP", "LEGAL_ORDER", "COMPLAINT_QUALITY")), WORKER
    )
    for purpose in (Purpose.JOINT_FOLLOW_UP, Purpose.LEGAL_ORDER, Purpose.COMPLAINT_QUALITY):
        recorded, _ = consents.decide(request(purpose=purpose), WORKER)
        assert recorded.decision.outcome == Outcome.DENY, purpose
        assert (ReasonCode.GRANTOR_MANDATE_NOT_STATED, "MANDATARY") in _reasons(recorded.decision)


@pytest.fixture
def api(consent_api: Callable[..., TestClient]) -> TestClient:
    return consent_api()


@pytest.mark.parametrize("role", REPRESENTATIVES)
def test_recording_a_representatives_consent_without_its_scope_is_a_422_naming_the_field(
    api: TestClient, auth: Auth, role: GrantorRole
) -> None:
    intake = auth(DISCLOSER, "intake")
    stored = _events(api)
    body = {**CONSENT, "granted_by": {"role": role.value, "mandate_ref": "500-14-000001-199"}}
    _refused_naming(api.post("/v1/consents", json=body, headers=intake), "granted_by.scope")
    assert _events(api) == stored
    scoped = {**body, "granted_by": {**body["granted_by"], "scope": ["REFERRAL"]}}
    created = api.post("/v1/consents", json=scoped, headers=intake)
    assert created.status_code == 201, created.text
    assert created.json()["granted_by"]["scope"] == ["REFERRAL"]


def test_recording_a_13_year_olds_own_consent_is_a_422_naming_the_role(api: TestClient, auth: Auth) -> None:
    body = {**CONSENT, "subject_birth_date": BORN.isoformat(), "valid_from": "2026-11-26"}
    stored = _events(api)
    _refused_naming(api.post("/v1/consents", json=body, headers=auth(DISCLOSER, "intake")), "granted_by.role")
    assert _events(api) == stored


# --- a retry answers as the first request was answered ------------------------------------------------------------


def test_a_consent_recorded_before_the_checks_is_replayed_to_a_retry_with_its_key(
    api: TestClient, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the review of 2026-12-02: a curator's consent without scope, accepted before the upgrade, retried with
    its Idempotency-Key after it, was a 422 (the grantor was checked before the key was looked up)."""
    curator = {**CONSENT, "granted_by": {"role": "CURATOR"}, "method": "WRITTEN"}
    headers = {**auth(DISCLOSER, "intake"), "Idempotency-Key": "consent-1"}
    with monkeypatch.context() as before_upgrade:
        before_upgrade.setattr(Consents, "_check_grantor", lambda self, terms: None)
        first = api.post("/v1/consents", json=curator, headers=headers)
    assert first.status_code == 201, first.text
    stored = _events(api)

    retry = api.post("/v1/consents", json=curator, headers=headers)

    assert retry.status_code == 201, retry.text
    assert retry.headers["idempotent-replayed"] == "true" and retry.json()["id"] == first.json()["id"]
    assert _events(api) == stored
    another_key = {**headers, "Idempotency-Key": "consent-2"}  # a new consent is checked
    _refused_naming(api.post("/v1/consents", json=curator, headers=another_key), "granted_by.scope")


def test_a_consent_recorded_before_the_birth_date_check_is_replayed(
    consents: Consents, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The terms checked on a consent (a start before the person's birth) are checked only for a new consent too."""
    before_birth = terms(valid_from=datetime(1979, 1, 1, tzinfo=UTC))
    with monkeypatch.context() as before:
        before.setattr(Consent, "check_terms", staticmethod(lambda *args: None))
        before.setattr(Consents, "_check_grantor", lambda self, terms: None)
        first, created = consents.record_consent(before_birth, WORKER, idempotency_key="k-1")
    again, replayed = consents.record_consent(before_birth, WORKER, idempotency_key="k-1")
    assert created and not replayed and again.consent_id == first.consent_id
    with pytest.raises(ConsentTermsInvalidError) as refused:
        consents.record_consent(before_birth, WORKER, idempotency_key="k-2")
    assert refused.value.field == "valid_from"
