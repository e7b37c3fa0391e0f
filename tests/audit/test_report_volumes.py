"""Agreement volumes in the compliance report: counted as the agreements service counted them (which agreement an
acceptance counts against, in which year), judged as it judged them, so the report, `GET /v1/agreements/{id}/volumes`
and the `volume-*` events agree on the same history. The agreements application runs in memory; its relay's own
mapping turns its store into the audit's history, beside the referral events both read.

Organisations, agreements and referrals are fictitious; ids are test codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.agreements.application import Agreements
from services.agreements.domain import Agreement
from services.agreements.inbound import AcceptedReferralV1
from services.agreements.main import outbox
from services.agreements.terms import Terms, Volume
from services.audit.report import Report, build_report
from services.audit.standards import ANNEXE_II
from services.audit.views import HistoryDB
from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.common.kafka import Outgoing
from tests.agreements.conftest import CRISIS, CSSS, REGIONAL, accepted, actor, register_network, service_terms
from tests.audit.conftest import ingest, stored_messages

ZONE = "America/Montreal"
SPECIALISED, CRISIS_LINE = "SPECIALISED_SERVICES", "CRISIS_24_7"
OPENED = datetime(2027, 1, 2, 15, tzinfo=UTC)
"""The agreements (calendar year 2027) are in force: activation falls due on 2027-01-01."""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(OPENED)


@pytest.fixture
def agreements(clock: ManualClock) -> Iterator[Agreements]:
    app = Agreements(env=persistence_env("memory://"), clock=clock)
    register_network(app)
    yield app
    app.close()


@pytest.fixture
def history(tmp_path: Path) -> HistoryDB:
    return HistoryDB(f"sqlite:///{tmp_path / 'history.db'}")


def in_force(agreements: Agreements, terms: Terms) -> Agreement:
    agreement, _ = agreements.draft(terms, actor(terms.parties[0]))
    for party in terms.parties:
        agreement = agreements.sign(agreement.id, actor(party))
    agreements.tick()
    return agreements.get_agreement(agreement.id)


def amend_volumes(agreements: Agreements, agreement: Agreement, *volumes: Volume) -> None:
    """The parties amend the committed volumes (a proposal, in force once both have signed it)."""
    proposed = agreements.amend(agreement.id, {"volumes": volumes}, actor(CSSS))
    assert proposed.proposal is not None
    for party in (CSSS, REGIONAL):
        agreements.sign(agreement.id, actor(party), proposal_id=proposed.proposal.id)


class Network:
    """Referrals accepted in the network: each acceptance as the referral service publishes it, which the agreements
    service counts (its consumer's command) and the audit replays."""

    def __init__(self, agreements: Agreements, clock: ManualClock) -> None:
        self.agreements = agreements
        self.clock = clock
        self.referral_events: list[Outgoing] = []

    def accept(self, referral_id: str, to_org: str, service: str, agreement: Agreement | None) -> None:
        at = self.clock.advance(timedelta(hours=1))
        agreement_id = str(agreement.id) if agreement is not None else None
        event = accepted(referral_id, at, agreement_id, to_org=to_org, to_service=service)
        self.agreements.count_accepted_referral(AcceptedReferralV1.model_validate(event.data).accepted())
        self.referral_events.append(Outgoing("rls.referral.v1", referral_id, event))

    def report(self, history: HistoryDB) -> Report:
        ingest(history, self.referral_events + stored_messages(self.agreements, outbox(self.agreements)))
        end = self.clock.now + timedelta(minutes=1)
        return build_report(history, datetime(2027, 1, 1, 5, tzinfo=UTC), end, ANNEXE_II, ZONE, end)


def report_lines(report: Report, agreement: Agreement) -> list[tuple[str, date, int, int]]:
    return [
        (v.service, v.year_start, v.used, v.per_year) for v in report.volumes if v.agreement_id == str(agreement.id)
    ]


def service_lines(agreements: Agreements, agreement: Agreement) -> list[tuple[str, date, int, int | None]]:
    """`GET /v1/agreements/{id}/volumes` for the current agreement year."""
    today = date(2027, 3, 1)
    return [
        (line.service, line.period_start, line.used, line.per_year)
        for line in agreements.volume_use(agreement.id)
        if line.period_start <= today <= line.period_end
    ]


def announced(agreements: Agreements) -> dict[tuple[str, str], str]:
    """The `volume-*` events the agreements service published, by agreement and service (the most severe)."""
    found: dict[tuple[str, str], str] = {}
    for message in stored_messages(agreements, outbox(agreements)):
        data: dict[str, Any] = message.event.data
        if message.event.type == "ca.qc.rls.agreements.volume-exceeded.v1":
            found[(data["agreement_id"], data["service"])] = "EXCEEDED"
        elif message.event.type == "ca.qc.rls.agreements.volume-threshold-reached.v1":
            found.setdefault((data["agreement_id"], data["service"]), "NEAR")
    return found


def test_a_redirected_referral_counts_against_the_agreement_of_the_receiver_that_accepted_it(
    agreements: Agreements, clock: ManualClock, history: HistoryDB
) -> None:
    """Accepted by the second receiver for its service, still naming the first receiver's agreement (which commits
    a volume of that service too): the agreements service counts it under the second receiver's agreement."""
    both = service_terms(services=(SPECIALISED, CRISIS_LINE))
    first = in_force(agreements, both.replace(volumes=(Volume(SPECIALISED, 10), Volume(CRISIS_LINE, 1))))
    crisis = service_terms(parties=(CSSS, CRISIS), services=(CRISIS_LINE,), volumes=(Volume(CRISIS_LINE, 5),))
    second = in_force(agreements, crisis)
    network = Network(agreements, clock)
    network.accept("r-redirected", CRISIS, CRISIS_LINE, first)

    report = network.report(history)

    assert report_lines(report, first) == [
        (SPECIALISED, date(2027, 1, 1), 0, 10),
        (CRISIS_LINE, date(2027, 1, 1), 0, 1),
    ]
    assert report_lines(report, second) == [(CRISIS_LINE, date(2027, 1, 1), 1, 5)]
    assert report.summary["volume_commitments_exceeded"] == 0  # the first agreement's 1 a year is untouched


def test_an_accepted_referral_naming_no_agreement_counts_against_the_agreement_covering_it(
    agreements: Agreements, clock: ManualClock, history: HistoryDB
) -> None:
    agreement = in_force(agreements, service_terms(volumes=(Volume(SPECIALISED, 2),)))
    network = Network(agreements, clock)
    network.accept("r-unnamed-1", REGIONAL, SPECIALISED, None)
    network.accept("r-unnamed-2", REGIONAL, SPECIALISED, None)

    (volume,) = network.report(history).volumes

    assert (volume.agreement_id, volume.used, volume.status, volume.flagged) == (
        str(agreement.id),
        2,
        "EXCEEDED",
        "EXCEEDED",
    )


def test_the_report_and_the_agreements_service_agree_on_the_same_history(
    agreements: Agreements, clock: ManualClock, history: HistoryDB
) -> None:
    both = service_terms(services=(SPECIALISED, CRISIS_LINE))
    first = in_force(agreements, both.replace(volumes=(Volume(SPECIALISED, 10), Volume(CRISIS_LINE, 3))))
    crisis = service_terms(parties=(CSSS, CRISIS), services=(CRISIS_LINE,), volumes=(Volume(CRISIS_LINE, 2),))
    second = in_force(agreements, crisis)
    network = Network(agreements, clock)
    network.accept("r-redirected", CRISIS, CRISIS_LINE, first)  # names the first receiver's agreement
    for n in range(2):
        network.accept(f"r-crisis-{n}", CRISIS, CRISIS_LINE, second)
    for n in range(8):
        network.accept(f"r-unnamed-{n}", REGIONAL, SPECIALISED, None)
    network.accept("r-named", REGIONAL, SPECIALISED, first)
    network.accept("r-named", REGIONAL, SPECIALISED, first)  # accepted again: counted once
    network.accept("r-uncovered", "listening-d", "COMMUNITY_SERVICE", None)  # no agreement covers it

    report = network.report(history)

    for agreement in (first, second):
        assert report_lines(report, agreement) == service_lines(agreements, agreement)
    assert report_lines(report, first) == [
        (SPECIALISED, date(2027, 1, 1), 9, 10),
        (CRISIS_LINE, date(2027, 1, 1), 0, 3),
    ]
    assert report_lines(report, second) == [(CRISIS_LINE, date(2027, 1, 1), 3, 2)]
    statuses = {(v.agreement_id, v.service): v.status for v in report.volumes if v.status != "OK"}
    assert (
        statuses
        == announced(agreements)
        == {
            (str(first.id), SPECIALISED): "NEAR",
            (str(second.id), CRISIS_LINE): "EXCEEDED",
        }
    )


def test_a_year_whose_commitment_was_raised_keeps_the_threshold_announced_under_the_earlier_one(
    agreements: Agreements, clock: ManualClock, history: HistoryDB
) -> None:
    """Eight of ten (80 %: announced), then the parties commit to twenty: the report shows 8 of 20, as the agreements
    service's volumes do, and still flags the year NEAR, as the agreements service announced it."""
    agreement = in_force(agreements, service_terms())
    network = Network(agreements, clock)
    for n in range(8):
        network.accept(f"r-{n}", REGIONAL, SPECIALISED, agreement)
    amend_volumes(agreements, agreement, Volume(SPECIALISED, 20))

    report = network.report(history)

    assert (
        report_lines(report, agreement)
        == service_lines(agreements, agreement)
        == [(SPECIALISED, date(2027, 1, 1), 8, 20)]
    )
    (volume,) = report.volumes
    assert (volume.pct_used, volume.flagged, volume.status) == (40.0, "NEAR", "NEAR")
    assert announced(agreements) == {(str(agreement.id), SPECIALISED): "NEAR"}
