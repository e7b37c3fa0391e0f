"""Builders of synthetic consent-engine inputs and facts (no real person, organisation or record)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.clock import ManualClock
from services.common.envelope import CloudEvent, derived_id, event_type, schema_uri
from services.common.eventstore import persistence_env
from services.consent.application import Consents
from services.consent.lane import DecisionLane
from services.consent.main import build_app
from services.consent.policy import (
    AgeBand,
    AgreementFact,
    ConsentFact,
    Context,
    DangerAssessment,
    DecisionInput,
    Facts,
    LegalSettings,
    Mandate,
    OnBehalfFact,
    RestrictionFact,
)
from services.consent.rule_history import FIRST_LRSSS, FIRST_LSSSS
from services.consent.rules import CURRENT_VERSION, version_of
from services.consent.settings import ConsentSettings
from services.contract.agreements_events import AgreementStateV1, OnBehalfV1, OrganisationRegisteredV1, VolumeV1
from services.contract.codes import (
    AgreementKind,
    AgreementStatus,
    AtRisk,
    ConsentMethod,
    DangerAct,
    DangerRecipientRole,
    DangerRisk,
    GrantorRole,
    InfoCategory,
    OrgKind,
    Purpose,
    Regime,
    ServiceCode,
)

FIRST_VERSION = {
    Regime.LSSSS_17_27_3: "2026-11-25+a6c58131994e",
    Regime.LRSSS: "2026-11-25+46f75fa48ff0",
}
"""The versions decisions recorded before 2026-11-30 name: they must stay known, with these exact digests."""
assert {t.regime: version_of(t) for t in (FIRST_LSSSS, FIRST_LRSSS)} == FIRST_VERSION

T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
""""Now" in every test: 2026-11-25, 10:00 in Québec."""

DISCLOSER = "csss-alpha"
RECIPIENT = "org-beta"
SUBJECT = "S-000123"


def consent_fact(**overrides: Any) -> ConsentFact:
    values: dict[str, Any] = {
        "consent_id": "c-1",
        "grantor_role": GrantorRole.SELF,
        "grantor_scope": None,
        "age_band_at_start": AgeBand.ADULT,
        "age_band_at_decision": AgeBand.ADULT,
        "method": ConsentMethod.WRITTEN,
        "purposes": (Purpose.REFERRAL,),
        "recipient_org_ids": (RECIPIENT,),
        "recipient_kinds": (),
        "categories": (InfoCategory.IDENTIFICATION, InfoCategory.CONTACT, InfoCategory.REFERRAL_REASON),
        "valid_from": T0 - timedelta(days=30),
        "valid_until": None,
        "withdrawn_at": None,
        "age_band_when_given": AgeBand.ADULT,
        "recorded_by_org": DISCLOSER,  # the discloser holds it (from 2026-12-03 a consent counts for its holder)
    }
    values.update(overrides)
    return ConsentFact(**values)


def agreement_fact(**overrides: Any) -> AgreementFact:
    values: dict[str, Any] = {
        "agreement_id": "ag-1",
        "kind": AgreementKind.SERVICE_108,
        "status": AgreementStatus.ACTIVE,
        "parties": (DISCLOSER, RECIPIENT),
        "start": date(2026, 1, 1),
        "end": date(2027, 12, 31),
        "information_sharing": (
            InfoCategory.IDENTIFICATION,
            InfoCategory.CONTACT,
            InfoCategory.REFERRAL_REASON,
            InfoCategory.YOUTH_PROTECTION,
        ),
        "state_since": T0 - timedelta(days=60),
    }
    values.update(overrides)
    return AgreementFact(**values)


def on_behalf_agreement(**overrides: Any) -> AgreementFact:
    """A service agreement under which the recipient provides CRISIS_24_7 on the discloser's behalf (art. 108)."""
    values: dict[str, Any] = {"on_behalf": (OnBehalfFact(DISCLOSER, (ServiceCode.CRISIS_24_7,)),)}
    values.update(overrides)
    return agreement_fact(**values)


def danger(**overrides: Any) -> DangerAssessment:
    """Every condition of art. 19.0.1 (2017 text) stated: a suicide risk, urgent, the recipient can help."""
    values: dict[str, Any] = {
        "act": DangerAct.SUICIDE,
        "risk": DangerRisk.DEATH,
        "at_risk": AtRisk.USER,
        "urgent": True,
        "recipient_role": DangerRecipientRole.HELPER,
        "authorised_by": "DSP-DIR-2024-03",
    }
    values.update(overrides)
    return DangerAssessment(**values)


def mandate(**overrides: Any) -> Mandate:
    """A written fixed-term mandate, not for care, with its clauses and the undertakings received (art. 27.1)."""
    values: dict[str, Any] = {
        "ref": "CT-2026-17",
        "written": True,
        "term_end": date(2027, 6, 30),
        "for_care": False,
        "clauses_present": True,
        "undertakings_received": True,
    }
    values.update(overrides)
    return Mandate(**values)


def restriction_fact(**overrides: Any) -> RestrictionFact:
    values: dict[str, Any] = {
        "restriction_id": "r-1",
        "recipient_org_ids": (RECIPIENT,),
        "recipient_kinds": (),
        "purposes": (),
        "categories": (InfoCategory.HEALTH,),
        "valid_from": T0 - timedelta(days=1),
        "lifted_at": None,
    }
    values.update(overrides)
    return RestrictionFact(**values)


def decision_input(regime: Regime = Regime.LSSSS_17_27_3, **overrides: Any) -> DecisionInput:
    context = overrides.pop("context", {})
    values: dict[str, Any] = {
        "subject_id": SUBJECT,
        "discloser_org_id": DISCLOSER,
        "recipient_org_id": RECIPIENT,
        "purpose": Purpose.REFERRAL,
        "categories": (InfoCategory.IDENTIFICATION, InfoCategory.CONTACT),
        "at": T0,
        "regime": regime,
        "regime_version": CURRENT_VERSION[regime],
        "context": dataclasses.replace(Context(), **context),
    }
    values.update(overrides)
    return DecisionInput(**values)


def facts(**overrides: Any) -> Facts:
    """The discloser is a CSSS (an institution) and the recipient a community organisation unless told otherwise."""
    values: dict[str, Any] = {"recipient_kind": OrgKind.COMMUNITY_ORGANISATION, "discloser_kind": OrgKind.CSSS}
    values.update(overrides)
    return Facts(**values)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


PINNED = "LSSSS_17_27_3"
"""The fixtures below apply the LSSSS as a pinned policy of record (the demo's setting), so that the LSSSS routes
are exercised in 2026; the BY_DATE default is tested on its own."""


def open_consents(store: str, legal: LegalSettings | None = None) -> Consents:
    """The consent application on `store` as these tests run it (the LSSSS pinned, the clock at `T0`), under these legal
    settings; opened again on the same store, it is the next process of the service."""
    return Consents(env=persistence_env(store), clock=ManualClock(T0), regime_setting=PINNED, legal=legal)


@pytest.fixture
def consents(clock: ManualClock) -> Iterator[Consents]:
    with Consents(env=persistence_env("memory://"), clock=clock, regime_setting=PINNED) as app:
        yield app


@pytest.fixture
def consent_api(
    service_settings: Callable[..., Any], client_for: Callable[..., TestClient], clock: ManualClock
) -> Callable[..., TestClient]:
    """`consent_api(**settings)` → a TestClient on the consent service (memory store, no Kafka loops)."""

    def make(**overrides: Any) -> TestClient:
        overrides.setdefault("regime", PINNED)
        return client_for(build_app(service_settings(ConsentSettings, **overrides), clock=clock))

    return make


@pytest.fixture
def consent_app(
    service_settings: Callable[..., Any], client_for: Callable[..., TestClient], clock: ManualClock
) -> Callable[..., TestClient]:
    """`consent_app(lane, **settings)`: the service with its decision lane, or answering through its routes only."""

    def make(lane: bool, **overrides: Any) -> TestClient:
        overrides.setdefault("regime", PINNED)
        app = build_app(service_settings(ConsentSettings, **overrides), clock=clock)
        if not lane:
            app.user_middleware[:] = [m for m in app.user_middleware if m.cls is not DecisionLane]
        return client_for(app)

    return make


def agreement_event(
    name: str,
    occurred_at: datetime,
    *,
    agreement_id: str = "ag-108",
    status: AgreementStatus = AgreementStatus.ACTIVE,
    kind: AgreementKind = AgreementKind.SERVICE_108,
    parties: tuple[str, ...] = (DISCLOSER, RECIPIENT),
    information_sharing: tuple[InfoCategory, ...] = (InfoCategory.IDENTIFICATION, InfoCategory.REFERRAL_REASON),
    on_behalf: tuple[tuple[str, tuple[ServiceCode, ...]], ...] = ((DISCLOSER, (ServiceCode.CRISIS_24_7,)),),
) -> CloudEvent:
    """A `ca.qc.rls.agreements.<name>.v1` event as the agreements service publishes it (synthetic); a service
    agreement's recipient provides CRISIS_24_7 on the discloser's behalf unless `on_behalf` says otherwise."""
    state = AgreementStateV1(
        agreement_id=agreement_id,
        version=1,
        kind=kind,
        status=status,
        title="Entente synthétique",
        parties=list(parties),
        signed_by=list(parties),
        services=[ServiceCode.CRISIS_24_7],
        clientele="adults in crisis",
        start=date(2026, 1, 1),
        end=date(2027, 12, 31) if kind == AgreementKind.SERVICE_108 else None,
        volumes=[VolumeV1(service=ServiceCode.CRISIS_24_7, per_year=100)] if kind == AgreementKind.SERVICE_108 else [],
        information_sharing=list(information_sharing) if kind == AgreementKind.SERVICE_108 else None,
        on_behalf=[OnBehalfV1(of_org=o, services=list(s)) for o, s in on_behalf]
        if kind == AgreementKind.SERVICE_108
        else [],
        occurred_at=occurred_at,
    )
    type_ = event_type("agreements", name)
    return CloudEvent(
        id=derived_id(agreement_id, name, occurred_at.isoformat()),
        source="/rls/agreements",
        type=type_,
        time=occurred_at,
        subject=agreement_id,
        dataschema=schema_uri(type_),
        data=state.model_dump(mode="json"),
    )


def organisation_event(org_id: str, kind: OrgKind, occurred_at: datetime) -> CloudEvent:
    registered = OrganisationRegisteredV1(
        org_id=org_id, name=f"Organisation {org_id}", kind=kind, territory="03", services=[], occurred_at=occurred_at
    )
    type_ = event_type("agreements", "organisation-registered")
    return CloudEvent(
        id=derived_id(org_id, "registered", occurred_at.isoformat()),
        source="/rls/agreements",
        type=type_,
        time=occurred_at,
        subject=org_id,
        dataschema=schema_uri(type_),
        data=registered.model_dump(mode="json"),
    )
