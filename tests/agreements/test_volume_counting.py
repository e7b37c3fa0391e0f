"""Which agreement an accepted referral counts against: the one it names only while that one covers the acceptance
(after a redirect, or once the named agreement is terminated, suspended or past its end, the coverage decides)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.agreements.application import AcceptedReferral, Agreements
from services.agreements.domain import Agreement
from services.agreements.inbound import AcceptedReferralV1
from services.agreements.main import outbox
from services.agreements.terms import Terms, Volume
from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.referral.application import Referrals
from services.referral.domain import Step
from services.referral.outbound import ReferralOutbound
from services.referral.ports import Coverage
from tests.agreements.conftest import CRISIS, CSSS, REGIONAL, actor, service_terms
from tests.referral.test_clocks import submission

SPECIALISED = "SPECIALISED_SERVICES"
ACCEPTED_AT = datetime(2027, 3, 1, 14, tzinfo=UTC)


def in_force(agreements: Agreements, terms: Terms | None = None, **changes: Any) -> Agreement:
    terms = terms or service_terms(**changes)
    agreement, _ = agreements.draft(terms, actor(terms.parties[0]))
    for party in terms.parties:
        agreement = agreements.sign(agreement.id, actor(party))
    return agreement


def used(agreements: Agreements, agreement: Agreement) -> list[tuple[date, int]]:
    return [(line.period_start, line.used) for line in agreements.volume_use(agreement.id)]


def test_a_redirected_referral_is_not_counted_against_the_first_receiver_s_agreement(
    agreements: Agreements, clock: ManualClock
) -> None:
    first = in_force(agreements)
    clock.now = datetime(2027, 3, 1, 15, tzinfo=UTC)
    # redirected to a community organisation no service agreement binds: still naming the first agreement
    referral = AcceptedReferral("r-redirected", CSSS, CRISIS, SPECIALISED, str(first.id), ACCEPTED_AT)
    assert agreements.count_accepted_referral(referral) is False
    assert used(agreements, first) == [(date(2027, 1, 1), 0)]


def test_a_redirected_referral_counts_against_the_agreement_covering_the_new_receiver(
    agreements: Agreements, clock: ManualClock
) -> None:
    first = in_force(agreements)
    terms = service_terms(parties=(CSSS, CRISIS), services=("CRISIS_24_7",))
    terms = terms.replace(volumes=(Volume("CRISIS_24_7", 5),))
    second = in_force(agreements, terms)
    clock.now = datetime(2027, 3, 1, 15, tzinfo=UTC)
    referral = AcceptedReferral("r-redirected", CSSS, CRISIS, "CRISIS_24_7", str(first.id), ACCEPTED_AT)
    assert agreements.count_accepted_referral(referral) is True
    assert agreements.count_accepted_referral(referral) is False  # replayed: counted once
    assert used(agreements, first) == [(date(2027, 1, 1), 0)]
    assert used(agreements, second) == [(date(2027, 1, 1), 1)]


def test_the_agreement_a_referral_counted_against_is_published(agreements: Agreements, clock: ManualClock) -> None:
    """`referral-counted` names the agreement the service chose (the new receiver's, not the one the acceptance
    names), so the audit's report counts what the service counted instead of deciding it again."""
    first = in_force(agreements)
    terms = service_terms(parties=(CSSS, CRISIS), services=("CRISIS_24_7",))
    second = in_force(agreements, terms.replace(volumes=(Volume("CRISIS_24_7", 5),)))
    clock.now = datetime(2027, 3, 1, 15, tzinfo=UTC)
    agreements.count_accepted_referral(
        AcceptedReferral("r-redirected", CSSS, CRISIS, "CRISIS_24_7", str(first.id), ACCEPTED_AT)
    )
    agreements.count_accepted_referral(AcceptedReferral("r-unnamed", CSSS, REGIONAL, SPECIALISED, None, ACCEPTED_AT))
    agreements.count_accepted_referral(AcceptedReferral("r-unnamed", CSSS, REGIONAL, SPECIALISED, None, ACCEPTED_AT))

    mapper = outbox(agreements)
    stored = agreements.recorder.select_notifications(start=0, limit=1000, inclusive_of_start=False)
    counted = [
        m for n in stored for m in mapper(agreements.mapper.to_domain_event(n)) if m.event.type.endswith("counted.v1")
    ]
    assert [(m.key, m.event.type, m.event.data) for m in counted] == [
        (
            str(agreement.id),
            "ca.qc.rls.agreements.referral-counted.v1",
            {
                "agreement_id": str(agreement.id),
                "referral_id": referral_id,
                "service": service,
                "period_start": "2027-01-01",
                "period_end": "2027-12-31",
                "used": 1,
                "occurred_at": ACCEPTED_AT.isoformat().replace("+00:00", "Z"),
            },
        )
        for agreement, referral_id, service in (
            (second, "r-redirected", "CRISIS_24_7"),
            (first, "r-unnamed", SPECIALISED),
        )
    ]


def test_a_terminated_agreement_counts_nothing_accepted_after_its_termination(
    agreements: Agreements, clock: ManualClock
) -> None:
    agreement = in_force(agreements)
    clock.now = datetime(2027, 2, 1, 15, tzinfo=UTC)
    agreements.terminate(agreement.id, "ended by the parties", actor(CSSS))
    clock.now = datetime(2027, 3, 1, 15, tzinfo=UTC)
    referral = AcceptedReferral("r-late", CSSS, REGIONAL, SPECIALISED, str(agreement.id), ACCEPTED_AT)
    assert agreements.count_accepted_referral(referral) is False
    assert used(agreements, agreement) == [(date(2027, 1, 1), 0)]


def test_a_suspended_agreement_counts_nothing_accepted_while_suspended(
    agreements: Agreements, clock: ManualClock
) -> None:
    agreement = in_force(agreements)
    clock.now = datetime(2027, 2, 1, 15, tzinfo=UTC)
    agreements.suspend(agreement.id, actor(CSSS), "paused")
    clock.now = datetime(2027, 3, 1, 15, tzinfo=UTC)
    referral = AcceptedReferral("r-suspended", CSSS, REGIONAL, SPECIALISED, str(agreement.id), ACCEPTED_AT)
    assert agreements.count_accepted_referral(referral) is False
    assert used(agreements, agreement) == [(date(2027, 1, 1), 0)]


def test_an_agreement_counts_nothing_accepted_after_its_end(agreements: Agreements, clock: ManualClock) -> None:
    agreement = in_force(agreements)
    after_end = datetime(2028, 3, 1, 14, tzinfo=UTC)
    clock.now = datetime(2028, 3, 1, 15, tzinfo=UTC)
    referral = AcceptedReferral("r-after", CSSS, REGIONAL, SPECIALISED, str(agreement.id), after_end)
    assert agreements.count_accepted_referral(referral) is False
    assert used(agreements, agreement) == [(date(2027, 1, 1), 0)]


def test_the_named_agreement_still_counts_what_it_covers_once(agreements: Agreements, clock: ManualClock) -> None:
    agreement = in_force(agreements)
    clock.now = datetime(2027, 3, 1, 15, tzinfo=UTC)
    referral = AcceptedReferral("r-1", CSSS, REGIONAL, SPECIALISED, str(agreement.id), ACCEPTED_AT)
    assert agreements.count_accepted_referral(referral) is True
    assert agreements.count_accepted_referral(referral) is False
    assert used(agreements, agreement) == [(date(2027, 1, 1), 1)]


@dataclass
class InProcessDirectory:
    """The referral service's directory answered by the agreements application itself (as `GET /v1/coverage`)."""

    agreements: Agreements

    def offers(self, org_id: str, service: str) -> bool:
        return True

    def coverage(self, from_org: str, to_org: str, service: str, at: datetime) -> Coverage:
        found = self.agreements.coverage(from_org, to_org, service, at)
        return Coverage(str(found.agreement.id), found.terms.terms.kind.value) if found else Coverage(None, None)


def test_a_referral_redirected_then_accepted_counts_against_the_agreement_its_events_name(
    agreements: Agreements, clock: ManualClock
) -> None:
    """The first agreement binds the new receiver too, but a later one is preferred for it: the acceptance counts
    against the agreement the referral service recorded at the redirection, not the one named at submission."""
    both = service_terms(parties=(CSSS, REGIONAL, CRISIS), services=(SPECIALISED, "CRISIS_24_7"))
    first = in_force(agreements, both.replace(volumes=(Volume(SPECIALISED, 10), Volume("CRISIS_24_7", 10))))
    later = service_terms(parties=(CSSS, CRISIS), services=("CRISIS_24_7",), start=date(2027, 2, 1))
    second = in_force(agreements, later.replace(volumes=(Volume("CRISIS_24_7", 5),)))
    clock.now = datetime(2027, 3, 1, 14, tzinfo=UTC)
    referrals = Referrals(env=persistence_env("memory://"), clock=clock)
    directory = InProcessDirectory(agreements)
    referral, _ = referrals.submit(
        replace(submission(SPECIALISED), from_org=CSSS, to_org=REGIONAL), "w", None, directory
    )
    assert referral.agreement_id == str(first.id)
    redirect = Step(REGIONAL, "w", clock.advance(timedelta(hours=1)), to_org=CRISIS, to_service="CRISIS_24_7")
    referrals.redirect(referral.id, redirect, None, directory)
    referrals.perform(referral.id, "accept", Step(CRISIS, "w", clock.advance(timedelta(hours=1))), None)

    outbound = ReferralOutbound("http://referral.test", lambda rid, v: referrals.repository.get(rid, version=v))
    stored = referrals.recorder.select_notifications(start=0, limit=10, inclusive_of_start=False)
    [accepted] = [
        m.event for n in stored for m in outbound(referrals.mapper.to_domain_event(n)) if "accepted" in m.event.type
    ]
    assert agreements.count_accepted_referral(AcceptedReferralV1.model_validate(accepted.data).accepted()) is True
    assert used(agreements, first) == [(date(2027, 1, 1), 0)] * 2
    assert used(agreements, second) == [(date(2027, 2, 1), 1)]
