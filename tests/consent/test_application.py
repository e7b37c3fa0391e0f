"""The consent application on both event stores (a SQLite file and a real PostgreSQL server)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Recording, Tracking

from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.consent import inbound
from services.consent.application import Actor, Consents, ConsentTerms, DecisionRequest, RestrictionTerms
from services.consent.domain import (
    Consent,
    ConsentAlreadyWithdrawnError,
    ConsentIdempotencyConflictError,
    ConsentTermsInvalidError,
    DecisionNotFoundError,
    DecisionRecord,
    RegisterEntry,
    RestrictionAlreadyLiftedError,
    keyed_id,
    register_entry_id_for,
)
from services.consent.policy import Context, DangerAssessment, ReasonCode
from services.consent.views import RegisterQuery
from services.contract.codes import (
    AgreementKind,
    AgreementStatus,
    AtRisk,
    DangerAct,
    DangerRecipientRole,
    DangerRisk,
    InfoCategory,
    OrgKind,
    Outcome,
    Purpose,
    Regime,
    ServiceCode,
)
from tests.consent.conftest import DISCLOSER, RECIPIENT, SUBJECT, T0, agreement_event, organisation_event

OpenApp = Callable[..., Consents]
WORKER = Actor(sub="worker-7", org=DISCLOSER)
ID_CONTACT = (InfoCategory.IDENTIFICATION, InfoCategory.CONTACT)


def terms(**overrides: object) -> ConsentTerms:
    values: dict[str, object] = {
        "subject_id": SUBJECT,
        "subject_birth_date": date(1980, 5, 17),
        "grantor_role": "SELF",
        "grantor_mandate_ref": None,
        "grantor_scope": None,
        "method": "WRITTEN",
        "purposes": ("REFERRAL",),
        "recipient_org_ids": (RECIPIENT,),
        "recipient_kinds": (),
        "categories": ("IDENTIFICATION", "CONTACT", "REFERRAL_REASON"),
        "valid_from": T0 - timedelta(days=10),
        "valid_until": None,
    }
    values.update(overrides)
    return ConsentTerms(**values)  # type: ignore[arg-type]


def request(**overrides: object) -> DecisionRequest:
    values: dict[str, object] = {
        "subject_id": SUBJECT,
        "discloser_org_id": DISCLOSER,
        "recipient_org_id": RECIPIENT,
        "purpose": Purpose.REFERRAL,
        "categories": ID_CONTACT,
    }
    values.update(overrides)
    return DecisionRequest(**values)  # type: ignore[arg-type]


def on_behalf(**overrides: object) -> DecisionRequest:
    """The discloser asks for its CRISIS_24_7 service provided by the recipient on its behalf (art. 108)."""
    return request(purpose=Purpose.SERVICE_ON_BEHALF, recipient_service=ServiceCode.CRISIS_24_7, **overrides)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def open_app(store_url: str, clock: ManualClock) -> Iterator[OpenApp]:
    apps: list[Consents] = []

    def make(regime_setting: str = "LSSSS_17_27_3") -> Consents:
        app = Consents(env=persistence_env(store_url), clock=clock, regime_setting=regime_setting)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


def test_withdrawal_is_a_new_event_and_never_overwrites_the_consent(open_app: OpenApp, clock: ManualClock) -> None:
    app = open_app()
    consent, created = app.record_consent(terms(), WORKER)
    clock.advance(timedelta(hours=2))
    withdrawn = app.withdraw_consent(uuid.UUID(consent.consent_id), WORKER, reason="asked by phone")

    reopened = open_app()
    events = list(reopened.events.get(uuid.UUID(consent.consent_id)))
    assert created and [type(e) for e in events] == [Consent.Recorded, Consent.Withdrawn]
    assert events[0].categories == ["IDENTIFICATION", "CONTACT", "REFERRAL_REASON"]
    assert withdrawn.withdrawn_at == T0 + timedelta(hours=2) and withdrawn.version == 2
    assert reopened.list_consents(SUBJECT) == [withdrawn]
    with pytest.raises(ConsentAlreadyWithdrawnError):
        reopened.withdraw_consent(uuid.UUID(consent.consent_id), WORKER)

    before, _ = reopened.decide(request(at=T0 + timedelta(hours=1)), WORKER)
    after, _ = reopened.decide(request(), WORKER)
    assert before.decision.outcome == Outcome.PERMIT
    assert before.decision.basis[0].consent_id == consent.consent_id
    assert after.decision.outcome == Outcome.DENY
    assert after.decision.reasons[0].code == ReasonCode.CONSENT_WITHDRAWN


def test_disclosure_records_decision_and_register_entry_in_one_transaction(open_app: OpenApp) -> None:
    app = open_app()
    app.record_consent(terms(), WORKER)

    recorded, _ = app.disclose(request(), WORKER)

    assert recorded.decision.outcome == Outcome.PERMIT
    assert recorded.register_entry_id == register_entry_id_for(recorded.decision_id)
    notifications = app.recorder.select_notifications(start=0, limit=10)
    topics = [n.topic.rsplit(":", 1)[1] for n in notifications]
    assert topics[-2:] == ["DecisionRecord.Made", "RegisterEntry.Registered"]
    rows, _ = open_app().register_entries(RegisterQuery(subject_id=SUBJECT))
    assert [(r.decision_id, r.categories, r.bases[0]["route"]) for r in rows] == [
        (str(recorded.decision_id), ("IDENTIFICATION", "CONTACT"), "A-1")
    ]


def test_decision_is_not_stored_when_its_register_entry_cannot_be(open_app: OpenApp) -> None:
    app = open_app()
    app.record_consent(terms(), WORKER)
    decision_id = keyed_id("disclosure", WORKER.org, "key-1")
    squatter = RegisterEntry(
        id=register_entry_id_for(decision_id),
        decision_id=uuid.uuid4(),
        at=T0,
        subject_id="S-other",
        discloser_org_id=DISCLOSER,
        recipient_org_id=RECIPIENT,
        categories=["CONTACT"],
        purpose="REFERRAL",
        bases=[{"route": "A-1", "article": "LSSSS art. 19"}],
        obligations=[],
        regime="LSSSS_17_27_3",
        recorded_at=T0,
        justification=None,
        reference=None,
        disclosed_by=None,
        regime_superseded=False,
        conditions={},
    )
    app.record(squatter)
    before = app.recorder.max_notification_id()

    with pytest.raises(IntegrityError):
        app.disclose(request(), WORKER, idempotency_key="key-1")

    assert app.recorder.max_notification_id() == before
    with pytest.raises(DecisionNotFoundError):
        app.get_decision(decision_id)


def test_denied_disclosure_writes_no_register_entry(open_app: OpenApp) -> None:
    app = open_app()
    recorded, _ = app.disclose(request(), WORKER)
    assert recorded.decision.outcome == Outcome.DENY and recorded.register_entry_id is None
    assert app.register_entries(RegisterQuery()) == ([], None)
    assert isinstance(app.repository.get(recorded.decision_id), DecisionRecord)


def test_recorded_decision_reevaluates_to_the_same_answer_after_history_moves_on(
    open_app: OpenApp, clock: ManualClock
) -> None:
    app = open_app()
    consent, _ = app.record_consent(terms(), WORKER)
    for offset, event in enumerate(
        (
            organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=90)),
            organisation_event(RECIPIENT, OrgKind.COMMUNITY_ORGANISATION, T0 - timedelta(days=90)),
            agreement_event("activated", T0 - timedelta(days=30)),
        )
    ):
        inbound.handler(app)(event, Tracking("rls.agreements.v1#0", offset + 1))
    first, _ = app.decide(on_behalf(categories=(InfoCategory.IDENTIFICATION, InfoCategory.ASSESSMENT)), WORKER)
    referral, _ = app.decide(request(), WORKER)

    clock.advance(timedelta(days=1))
    app.withdraw_consent(uuid.UUID(consent.consent_id), WORKER)
    inbound.handler(app)(
        agreement_event("suspended", clock(), status=AgreementStatus.SUSPENDED), Tracking("rls.agreements.v1#0", 99)
    )

    reopened = open_app()
    for decision in (first, referral):
        recorded, again = reopened.reevaluate(decision.decision_id)
        assert recorded == decision and again == decision.decision
    assert first.decision.outcome == Outcome.PERMIT_PARTIAL and first.decision.basis[0].route == "A-3"
    now, _ = reopened.decide(on_behalf(), WORKER)
    assert now.decision.outcome == Outcome.DENY
    assert ReasonCode.AGREEMENT_NOT_IN_FORCE in [r.code for r in now.decision.reasons]


def test_agreements_as_they_stood_at_the_decision_time(open_app: OpenApp) -> None:
    app = open_app()
    timeline = [
        agreement_event("drafted", T0 - timedelta(days=40), status=AgreementStatus.DRAFT),
        agreement_event("activated", T0 - timedelta(days=30)),
        agreement_event("suspended", T0 - timedelta(days=20), status=AgreementStatus.SUSPENDED),
        agreement_event("resumed", T0 - timedelta(days=10)),
        agreement_event("terminated", T0 + timedelta(days=10), status=AgreementStatus.TERMINATED),
        agreement_event(
            "activated", T0 - timedelta(days=30), agreement_id="ag-collab", kind=AgreementKind.COLLABORATION
        ),
    ]
    timeline.append(organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=90)))
    for offset, event in enumerate(reversed(timeline)):  # arrival order does not matter, occurred_at does
        inbound.handler(app)(event, Tracking("rls.agreements.v1#1", offset + 1))

    def outcome_at(days: int) -> tuple[Outcome, list[str]]:
        recorded, _ = app.decide(on_behalf(at=T0 + timedelta(days=days)), WORKER)
        return recorded.decision.outcome, sorted({r.code.value for r in recorded.decision.reasons})

    not_in_force = ["AGREEMENT_NOT_IN_FORCE", "COLLABORATION_AGREEMENT_ONLY", "NO_CONSENT"]
    assert outcome_at(-45) == (Outcome.DENY, ["NO_CONSENT"])  # nothing drafted yet
    assert outcome_at(-35) == (Outcome.DENY, ["AGREEMENT_NOT_IN_FORCE", "NO_CONSENT"])  # drafted only
    assert outcome_at(-25)[0] == Outcome.PERMIT_PARTIAL  # active: identification, not contact (not shared)
    assert outcome_at(-15) == (Outcome.DENY, not_in_force)  # suspended
    assert outcome_at(0)[0] == Outcome.PERMIT_PARTIAL  # resumed
    assert outcome_at(11) == (Outcome.DENY, not_in_force)  # terminated


def test_the_same_upstream_event_twice_has_one_effect(open_app: OpenApp) -> None:
    app = open_app()
    event = agreement_event("activated", T0 - timedelta(days=5))
    inbound.handler(app)(event, Tracking("rls.agreements.v1#2", 1))
    inbound.handler(app)(event, Tracking("rls.agreements.v1#2", 2))  # republished: another offset
    other = organisation_event("org-new", OrgKind.PROFESSIONAL, T0)
    inbound.handler(app)(
        other.model_copy(update={"type": "ca.qc.rls.agreements.unknown.v9"}), Tracking("rls.agreements.v1#2", 3)
    )

    assert app.view.observations() == 1
    assert app.position("rls.agreements.v1#2") == 3


def test_age_is_computed_at_the_decision_time_in_quebec(open_app: OpenApp) -> None:
    app = open_app()
    # Born 2012-11-26: 13 on 2026-11-25, 14 from 2026-11-26 (Québec date).
    app.record_consent(terms(subject_birth_date=date(2012, 11, 26), grantor_role="PARENT"), WORKER)
    evening = datetime(2026, 11, 26, 4, 59, tzinfo=UTC)  # 23:59 on the 25th in Québec
    birthday = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)

    assert app.decide(request(at=evening), WORKER)[0].decision.outcome == Outcome.PERMIT
    late, _ = app.decide(request(at=birthday), WORKER)
    assert late.decision.outcome == Outcome.DENY
    assert late.decision.reasons[0].code == ReasonCode.GRANTOR_NOT_ENTITLED_FOR_AGE
    assert late.facts.consents[0].age_band_at_decision == "MINOR_14_TO_17"


def test_regime_by_date(open_app: OpenApp) -> None:
    app = open_app("BY_DATE")
    before, _ = app.decide(request(at=datetime(2024, 7, 1, 3, 59, tzinfo=UTC)), WORKER)  # 23:59 on June 30
    after, _ = app.decide(request(at=datetime(2024, 7, 1, 4, 0, tzinfo=UTC)), WORKER)
    pinned, _ = open_app("LSSSS_17_27_3").decide(request(at=datetime(2025, 1, 1, tzinfo=UTC)), WORKER)
    assert (before.input.regime, after.input.regime, pinned.input.regime) == (
        Regime.LSSSS_17_27_3,
        Regime.LRSSS,
        Regime.LSSSS_17_27_3,
    )
    assert after.decision.regime == Regime.LRSSS and after.decision.regime_version == after.input.regime_version


def test_idempotent_disclosure(open_app: OpenApp) -> None:
    app = open_app()
    app.record_consent(terms(), WORKER)
    first, created = app.disclose(request(), WORKER, idempotency_key="k-1")
    again, created_again = open_app().disclose(request(), WORKER, idempotency_key="k-1")
    assert created and not created_again and again == first
    assert len(app.register_entries(RegisterQuery())[0]) == 1
    with pytest.raises(ConsentIdempotencyConflictError):
        app.disclose(request(categories=(InfoCategory.CONTACT,)), WORKER, idempotency_key="k-1")


class Outpaced(Consents):
    """Another request commits between this one's checks and its write: the race a check-then-write can lose."""

    name = Consents.name  # the same tables as the application it races
    rival: Callable[[], object] | None = None

    def record(self, *objs: Any, tracking: Tracking | None = None) -> list[Recording[Any]]:
        rival, self.rival = self.rival, None
        if rival is not None:
            rival()
        return super().record(*objs, tracking=tracking)


@pytest.fixture
def outpaced(store_url: str, clock: ManualClock) -> Iterator[Outpaced]:
    app = Outpaced(env=persistence_env(store_url), clock=clock)
    yield app
    app.close()


def restriction_terms() -> RestrictionTerms:
    return RestrictionTerms(
        subject_id=SUBJECT,
        recipient_org_ids=(RECIPIENT,),
        recipient_kinds=(),
        purposes=("REFERRAL",),
        categories=("CONTACT",),
        valid_from=None,
    )


def test_a_retry_that_loses_the_race_to_record_a_restriction_gets_the_first_answer(
    open_app: OpenApp, outpaced: Outpaced
) -> None:
    other = open_app()
    outpaced.rival = lambda: other.record_restriction(restriction_terms(), WORKER, idempotency_key="r-1")

    restriction, created = outpaced.record_restriction(restriction_terms(), WORKER, idempotency_key="r-1")

    assert not created and outpaced.list_restrictions(SUBJECT) == [restriction]


def test_a_lift_that_loses_the_race_is_told_the_restriction_was_already_lifted(
    open_app: OpenApp, outpaced: Outpaced
) -> None:
    restriction, _ = outpaced.record_restriction(restriction_terms(), WORKER)
    restriction_id = uuid.UUID(restriction.restriction_id)
    other = open_app()
    outpaced.rival = lambda: other.lift_restriction(restriction_id, WORKER)

    with pytest.raises(RestrictionAlreadyLiftedError):
        outpaced.lift_restriction(restriction_id, WORKER)

    assert outpaced.get_restriction(restriction_id).version == 2


def test_terms_that_cannot_hold_are_refused_before_anything_is_stored(open_app: OpenApp) -> None:
    app = open_app()
    with pytest.raises(ConsentTermsInvalidError) as birth:
        app.record_consent(terms(subject_birth_date=date(2026, 11, 26)), WORKER)
    with pytest.raises(ConsentTermsInvalidError) as period:
        app.record_consent(terms(valid_until=T0 - timedelta(days=11)), WORKER)
    with pytest.raises(ConsentTermsInvalidError) as future:
        app.disclose(request(at=T0 + timedelta(minutes=1)), WORKER)
    assert (birth.value.field, period.value.field, future.value.field) == ("subject_birth_date", "valid_until", "at")
    assert app.recorder.max_notification_id() in (None, 0)


def test_context_reaches_the_engine_and_the_register_keeps_the_justification(open_app: OpenApp) -> None:
    app = open_app()
    inbound.handler(app)(organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=9)), Tracking("a#0", 1))
    assessment = DangerAssessment(
        act=DangerAct.SUICIDE,
        risk=DangerRisk.DEATH,
        at_risk=AtRisk.USER,
        urgent=True,
        recipient_role=DangerRecipientRole.HELPER,
        authorised_by="DSP-DIR-2024-03",
        ref="EVAL-0042",
    )
    recorded, _ = app.disclose(
        request(
            purpose=Purpose.EMERGENCY,
            categories=(InfoCategory.CONTACT, InfoCategory.HEALTH),
            context=Context(danger_assessment=assessment),
            justification="suicide risk assessed during a call; a mobile crisis team is sent",
        ),
        Actor(sub="worker-42", org=DISCLOSER),
    )
    assert recorded.decision.permitted_categories == (InfoCategory.CONTACT,)
    assert recorded.decision.basis[0].route == "A-6"
    assert recorded.decision.basis[0].discloser_kind == OrgKind.CSSS
    [row] = app.register_entries(RegisterQuery(discloser_org_id=DISCLOSER))[0]
    assert row.categories == ("CONTACT",)
    assert row.obligations == ("NOTE_IN_RECORD", "MINIMUM_NECESSARY", "AUTHORISED_DISCLOSER_ONLY")
    assert row.justification == "suicide risk assessed during a call; a mobile crisis team is sent"
    assert row.reference == "danger-assessment:EVAL-0042" and row.disclosed_by == "worker-42"
    assert row.conditions["danger_assessment"] == {
        "act": "SUICIDE",
        "risk": "DEATH",
        "at_risk": "USER",
        "urgent": True,
        "recipient_role": "HELPER",
        "authorised_by": "DSP-DIR-2024-03",
        "ref": "EVAL-0042",
    }
    assert row.regime_superseded is True  # the fixture pins the LSSSS in 2026
    assert app.get_decision(recorded.decision_id).justification == row.justification


def test_new_optional_fields_upstream_do_not_break_the_read_model(open_app: OpenApp) -> None:
    app = open_app()
    event = agreement_event("activated", T0 - timedelta(days=3))
    newer = event.model_copy(update={"data": {**event.data, "renewal_notice_days": 90}})
    inbound.handler(app)(newer, Tracking("rls.agreements.v1#0", 1))
    assert [a.status for a in app.view.agreements_between(DISCLOSER, RECIPIENT, T0)] == [AgreementStatus.ACTIVE]


def view_rows(app: Consents) -> dict[str, list[Any]]:
    """Every row of the consent service's projections, the encoded states decoded."""
    found: dict[str, list[Any]] = {}
    for projector in app.projectors:
        codec = getattr(projector.projection, "codec", None)  # the decisions' tally encodes nothing
        with projector.reading() as tx:
            for table in projector.projection.tables:
                found[table] = sorted(
                    (
                        [codec.decode(v) if codec and isinstance(v, bytes | memoryview) else v for v in row]
                        for row in tx.execute(f"SELECT * FROM {table}")  # noqa: S608
                    ),
                    key=repr,
                )
    return found


def test_the_read_model_is_a_projection_kept_across_restarts_and_rebuilt_to_the_same_rows(
    open_app: OpenApp, clock: ManualClock
) -> None:
    app = open_app()
    for offset, event in enumerate(
        (
            organisation_event(DISCLOSER, OrgKind.CSSS, T0 - timedelta(days=90)),
            organisation_event(RECIPIENT, OrgKind.COMMUNITY_ORGANISATION, T0 - timedelta(days=90)),
            agreement_event("activated", T0 - timedelta(days=30)),
        )
    ):
        inbound.handler(app)(event, Tracking("rls.agreements.v1#0", offset + 1))
    consent, _ = app.record_consent(terms(), WORKER)
    app.record_consent(terms(subject_id="subject-other"), WORKER)
    app.record_restriction(restriction_terms(), WORKER)
    for _ in range(30):  # decisions: events the decisions' view does not apply nor wait for
        app.decide(request(), WORKER)
    app.disclose(request(), WORKER)
    clock.advance(timedelta(hours=1))
    app.withdraw_consent(uuid.UUID(consent.consent_id), WORKER)
    after, _ = app.decide(request(), WORKER)
    assert after.decision.outcome == Outcome.DENY  # the withdrawal recorded after 31 decisions is seen at once
    incremental = view_rows(app)
    assert len(incremental["consent_records"]) == 3 and len(incremental["consent_register"]) == 1

    reopened = open_app()  # nothing replayed at start: the positions were stored with the rows
    assert [p.position() for p in reopened.projectors] == [p.position() for p in app.projectors]
    assert reopened.list_consents(SUBJECT)[0].withdrawn_at == T0 + timedelta(hours=1)
    for projector in reopened.projectors:
        projector.rebuild()
    assert view_rows(reopened) == incremental


def test_only_consents_the_parties_hold_naming_the_recipient_are_facts(open_app: OpenApp) -> None:
    """A consent authorises the organisation it was given to (the discloser, or the recipient gathering it for the
    discloser it names: from 2026-12-03, one the recipient recorded naming no discloser authorises nobody else),
    never a third organisation; and one naming other recipients cannot support this disclosure. Neither
    is a fact: the decision's parties read the facts. Before, every consent on file for the person was, and a
    third organisation's consent permitted the disclosure."""
    app = open_app()
    third = Actor(sub="worker-3", org="org-third")
    held_by_third, _ = app.record_consent(terms(subject_birth_date=date(2012, 1, 1)), third)
    decided, _ = app.decide(request(), WORKER)
    assert decided.facts.consents == () and decided.facts.subject_age_band is None
    assert decided.decision.outcome == Outcome.DENY
    elsewhere, _ = app.record_consent(terms(recipient_org_ids=("org-delta",)), WORKER)
    decided, _ = app.decide(request(), WORKER)
    assert decided.facts.consents == () and decided.decision.outcome == Outcome.DENY
    assert decided.facts.subject_age_band is not None  # from the discloser's own consent, naming another
    recipient = Actor(sub="worker-9", org=RECIPIENT)
    for_itself, _ = app.record_consent(terms(), recipient)  # the recipient's, naming no discloser (2026-12-03)
    decided, _ = app.decide(request(), WORKER)
    assert decided.facts.consents == () and decided.decision.outcome == Outcome.DENY
    gathered, _ = app.record_consent(terms(discloser_org_ids=(DISCLOSER,)), recipient)  # gathered for the discloser
    decided, _ = app.decide(request(), WORKER)
    assert [c.consent_id for c in decided.facts.consents] == [gathered.consent_id]
    assert decided.decision.outcome == Outcome.PERMIT
    for other in (held_by_third, elsewhere, for_itself):
        assert other.consent_id not in repr(decided.facts)


def test_restrictions_naming_other_recipients_stay_out_of_the_facts(open_app: OpenApp) -> None:
    """A restriction binds the record of the discloser that holds it, but one naming other recipients cannot bar this
    disclosure: it stays out of the decision's facts, which the decision's parties read (it would tell them of the
    person's other ties). Another organisation's restriction binds its own record, not the discloser's."""
    app = open_app()
    elsewhere = Actor(sub="worker-3", org="org-third")
    app.record_consent(terms(), WORKER)
    others = RestrictionTerms(
        subject_id=SUBJECT,
        recipient_org_ids=("org-delta",),
        recipient_kinds=(),
        purposes=(),
        categories=(),
        valid_from=None,
    )
    app.record_restriction(others, WORKER)
    app.record_restriction(restriction_terms(), elsewhere)
    naming, _ = app.record_restriction(restriction_terms(), WORKER)  # names the recipient (a bar under the LRSSS)
    decided, _ = app.decide(request(), WORKER)
    assert [r.restriction_id for r in decided.facts.restrictions] == [naming.restriction_id]
    assert decided.decision.outcome == Outcome.PERMIT
