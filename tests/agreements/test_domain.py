"""The domain alone (nothing running): calendar rules and time-driven transitions, time always given."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.agreements.domain import Agreement, AgreementSuspendedByOtherError, next_review_after
from services.agreements.terms import add_months, agreement_year
from services.contract.codes import AgreementStatus
from tests.agreements.conftest import CSSS, OUTSIDER, REGIONAL, service_terms

NOW = datetime(2026, 11, 25, 15, tzinfo=UTC)


def signed(**changes: object) -> Agreement:
    agreement = Agreement(
        id=uuid.uuid4(),
        terms=service_terms(**changes).to_document(),
        drafted_by="coordinator-1",
        occurred_at=NOW,
        zone="America/Montreal",
        request_digest=None,
    )
    agreement.sign(CSSS, "coordinator-1", NOW)
    agreement.sign(REGIONAL, "coordinator-2", NOW)
    return agreement


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 5, 15), -6, date(2025, 11, 15)),
    ],
)
def test_months_are_added_on_the_calendar(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_agreement_years_run_from_the_start_date_anniversary() -> None:
    start = date(2026, 4, 1)
    assert agreement_year(start, date(2026, 4, 1)) == (date(2026, 4, 1), date(2027, 3, 31))
    assert agreement_year(start, date(2027, 3, 31)) == (date(2026, 4, 1), date(2027, 3, 31))
    assert agreement_year(start, date(2027, 4, 1)) == (date(2027, 4, 1), date(2028, 3, 31))
    assert agreement_year(start, date(2026, 1, 1)) == (date(2026, 4, 1), date(2027, 3, 31))


def test_the_next_review_follows_the_anchor_not_the_clamped_dates() -> None:
    assert next_review_after(date(2026, 1, 31), 1, date(2026, 2, 28)) == date(2026, 3, 31)


def test_nothing_happens_before_it_is_due() -> None:
    agreement = signed()
    agreement.advance(datetime(2027, 1, 1, 4, 59, 59, tzinfo=UTC))
    assert agreement.status.value == "SIGNED" and agreement.next_due_at() == datetime(2027, 1, 1, 5, tzinfo=UTC)


def test_transitions_due_together_apply_in_order_with_their_own_times() -> None:
    agreement = signed(review_every_months=4)
    agreement.advance(datetime(2030, 1, 1, tzinfo=UTC))
    applied = [(type(e).__name__, e.occurred_at.date()) for e in agreement.collect_events()[3:]]
    assert applied == [
        ("Activated", date(2027, 1, 1)),
        ("ReviewDue", date(2027, 5, 1)),
        ("ReviewDue", date(2027, 9, 1)),
        ("Expired", date(2028, 1, 1)),
    ]
    assert agreement.next_due_at() is None


def test_amending_a_signed_agreement_to_an_earlier_start_activates_it_from_the_amendment() -> None:
    agreement = signed()
    later = NOW + timedelta(days=2)
    agreement.amend(service_terms(start=date(2026, 6, 1)), "coordinator-2", REGIONAL, later)
    proposed = agreement.status
    assert agreement.proposal is not None
    agreement.sign(REGIONAL, "coordinator-2", later, agreement.proposal.id)
    agreement.sign(CSSS, "coordinator-1", later, agreement.proposal.id)
    assert (proposed.value, agreement.status.value) == ("SIGNED", "ACTIVE")
    assert agreement.phases[-1].at == later
    assert [p.at for p in agreement.phases] == sorted(p.at for p in agreement.phases)
    assert agreement.status_at(later - timedelta(seconds=1)) == (AgreementStatus.SIGNED, 1)


def test_a_proposed_amendment_lapses_when_the_agreement_expires_and_a_renewal_does_not() -> None:
    amended, renewed = signed(start=date(2026, 1, 1), end=date(2026, 12, 31)), signed(start=date(2026, 1, 1))
    revised = service_terms(start=date(2026, 1, 1), end=date(2026, 12, 31), title="Entente révisée")
    amended.amend(revised, "coordinator-1", CSSS, NOW)
    renewed.renew(date(2028, 12, 31), "coordinator-1", CSSS, NOW)
    after_the_end = datetime(2028, 2, 1, tzinfo=UTC)
    for agreement in (amended, renewed):
        agreement.advance(after_the_end)
    assert renewed.proposal is not None
    renewal = renewed.proposal.id
    renewed.sign(CSSS, "coordinator-1", after_the_end, renewal)
    renewed.sign(REGIONAL, "coordinator-2", after_the_end, renewal)
    assert (amended.status.value, amended.proposal) == ("EXPIRED", None)
    assert (renewed.status.value, renewed.terms.end, renewed.terms_version) == ("ACTIVE", date(2028, 12, 31), 2)


def test_a_suspension_a_non_party_recorded_is_lifted_by_a_party() -> None:
    agreement = signed(start=date(2026, 1, 1))
    agreement.suspend("coordinator-9", "outsider-e", NOW)  # recorded before non-parties were refused
    agreement.resume("coordinator-2", REGIONAL, NOW)
    assert agreement.status is AgreementStatus.ACTIVE


def test_only_the_party_that_suspended_lifts_its_suspension() -> None:
    agreement = signed(start=date(2026, 1, 1))
    agreement.suspend("coordinator-1", CSSS, NOW)
    with pytest.raises(AgreementSuspendedByOtherError):
        agreement.resume("coordinator-2", REGIONAL, NOW)


def test_the_parties_are_those_of_the_latest_terms() -> None:
    agreement = Agreement(
        id=uuid.uuid4(),
        terms=service_terms(parties=(CSSS, REGIONAL, OUTSIDER)).to_document(),
        drafted_by="coordinator-1",
        occurred_at=NOW,
        zone="America/Montreal",
        request_digest=None,
    )
    agreement.amend(service_terms(), "coordinator-1", CSSS, NOW)
    assert agreement.parties() == {CSSS, REGIONAL}
    assert not agreement.is_party(OUTSIDER) and not agreement.is_party(OUTSIDER, answering=True)


def test_an_organisation_only_a_pending_proposal_names_answers_it_and_does_nothing_else() -> None:
    agreement = signed(start=date(2026, 1, 1))
    # a proposal naming another party (refused since a signed agreement's parties were fixed; older ones may exist)
    terms = service_terms(start=date(2026, 1, 1), parties=(CSSS, REGIONAL, OUTSIDER)).to_document()
    agreement._proposed(terms=terms, change="amended", proposed_by="c-1", party=CSSS, occurred_at=NOW, summary=None)
    assert agreement.is_party(OUTSIDER, answering=True) and not agreement.is_party(OUTSIDER)
    agreement.decline(OUTSIDER, "coordinator-9", "not ours", NOW, agreement.proposal.id if agreement.proposal else None)
    assert agreement.proposal is None
