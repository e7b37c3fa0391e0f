"""Which agreement an accepted referral counts against: the one it names only while that one covers the acceptance
(after a redirect, or once the named agreement is terminated, suspended or past its end, the coverage decides)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from services.agreements.application import AcceptedReferral, Agreements
from services.agreements.domain import Agreement
from services.agreements.terms import Terms, Volume
from services.common.clock import ManualClock
from tests.agreements.conftest import CRISIS, CSSS, REGIONAL, actor, service_terms

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
