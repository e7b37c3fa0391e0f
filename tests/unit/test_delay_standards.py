"""The contract's definition of the delay standards (services/contract/delay_standards.py), read against Annexe II:
what completes an AAOR's request, which requests the analysis standard covers, what starts a consultation's follow-up,
which services an urgent situation is timed for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.contract.codes import ServiceCode
from services.contract.delay_standards import DEFAULT_BOUNDS, Policy, Step, compute_clocks
from services.contract.referral_events import ClockState, DelayStandard

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday 09:00 in Montréal
H, D = timedelta(hours=1), timedelta(days=1)
LATER = T0 + 90 * D
POLICY = Policy(DEFAULT_BOUNDS)


def history(service: str, *steps: tuple[str, timedelta], to_service: str | None = None) -> list[Step]:
    """A request to org-b's `service`; a `redirected` step sends it on to org-c's `to_service`."""
    found = [Step("submitted", T0, "org-b", service)]
    for name, after in steps:
        target = (
            ("org-c", to_service or "CRISIS_24_7") if name == "redirected" else (found[-1].to_org, found[-1].to_service)
        )
        found.append(Step(name, T0 + after, *target))
    return found


def states(steps: list[Step], channel: str, standard: DelayStandard) -> dict[str, ClockState]:
    """The state of `standard`'s clock for each organisation, at `LATER`."""
    return {
        c.responsible_org: c.state
        for c in compute_clocks(steps, channel, "ROUTINE", POLICY, LATER)
        if c.standard == standard
    }


ANALYSIS = DelayStandard.AAOR_ANALYSIS
FOLLOW_UP = DelayStandard.CONSULT_FOLLOW_UP


@pytest.mark.parametrize(
    ("decision", "steps"),
    [
        ("accepts to handle it itself (<= 3 meetings)", [("first-contact-made", H), ("accepted", D)]),
        ("orients the person elsewhere", [("first-contact-made", H), ("redirected", 3 * D)]),
        ("declines the request", [("refused", 2 * D)]),
        ("records its analysis", [("analysed", 9 * D)]),
    ],
)
def test_the_aaors_decision_completes_the_request_within_10_days(decision: str, steps: list) -> None:
    """Annexe II: "Délai maximal pour compléter la demande suivant la réception … 10 jours". `analyse` is impossible
    once the AAOR accepted, and a redirect ended the clock unmet: the request completed on day 1 was a breach, the one
    oriented on day 3 was not counted at all."""
    assert states(history("AAOR", *steps), "IN_PERSON", ANALYSIS) == {"org-b": ClockState.MET}, decision


def test_a_decision_after_10_days_breaches_the_analysis_standard() -> None:
    assert states(history("AAOR", ("accepted", 11 * D)), "PHONE", ANALYSIS) == {"org-b": ClockState.BREACHED}
    assert states(history("AAOR", ("redirected", 11 * D)), "PHONE", ANALYSIS) == {"org-b": ClockState.BREACHED}


def test_an_aaor_passing_the_request_to_another_aaor_has_not_completed_it() -> None:
    """One AAOR forwarding the request to another, which analyses it from the start, completed nothing: its clock
    stops (not counted, as before the AAOR's decision counted), the other's runs from the redirect."""
    steps = history("AAOR", ("redirected", H), ("analysed", 12 * D), to_service="AAOR")
    assert states(steps, "PHONE", ANALYSIS) == {"org-b": ClockState.STOPPED, "org-c": ClockState.BREACHED}
    late = history("AAOR", ("redirected", 11 * D), to_service="AAOR")
    assert states(late, "PHONE", ANALYSIS)["org-b"] is ClockState.BREACHED


def test_a_request_cancelled_by_its_sender_is_not_completed_by_the_aaor() -> None:
    assert states(history("AAOR", ("cancelled", 3 * D)), "PHONE", ANALYSIS) == {"org-b": ClockState.STOPPED}


@pytest.mark.parametrize(
    ("channel", "applies"),
    [("PHONE", True), ("IN_PERSON", True), ("INFO_SOCIAL_811", True), ("ELECTRONIC", False)],
)
def test_the_analysis_standard_covers_requests_received_by_phone_or_in_person(channel: str, applies: bool) -> None:
    """Annexe II: "suivant la réception de celle-ci par téléphone ou en face à face" (fiche 1: "suivant sa réception
    (téléphonique ou en personne)"); a transfer from Info-Social 8-1-1 is a request made by phone (as for the
    call-back). An electronic referral is not under the 10-day analysis standard."""
    found = states(history("AAOR", ("analysed", 11 * D)), channel, ANALYSIS)
    assert found == ({"org-b": ClockState.BREACHED} if applies else {})


def test_an_electronic_request_redirected_to_the_aaor_has_no_analysis_clock() -> None:
    steps = history("SOCIAL_CONSULT", ("redirected", D), ("analysed", 20 * D), to_service="AAOR")
    assert states(steps, "ELECTRONIC", ANALYSIS) == {}
    assert states(steps, "PHONE", ANALYSIS) == {"org-c": ClockState.BREACHED}


def test_a_meeting_after_acceptance_starts_the_consultations_follow_up() -> None:
    """Annexe II: "Délai maximal avant que l'intervenant débute le suivi avec la personne à la suite de l'acceptation:
    30 jours". Weekly meetings from day 7 are the follow-up, `start-follow-up` entered or not."""
    weekly = [("meeting-recorded", n * 7 * D) for n in range(1, 7)]
    steps = history("SOCIAL_CONSULT", ("accepted", H), ("intervention-plan-set", 7 * D), *weekly, ("closed", 45 * D))
    [clock] = [c for c in compute_clocks(steps, "ELECTRONIC", "ROUTINE", POLICY, LATER) if c.standard == FOLLOW_UP]
    assert (clock.state, clock.met_at) == (ClockState.MET, T0 + 7 * D)


def test_a_first_contact_alone_or_a_meeting_before_acceptance_does_not_start_the_follow_up() -> None:
    """The first contact has its own 7-day clock; a meeting before acceptance precedes the clock."""
    contact_only = history("PSYCH_CONSULT", ("accepted", H), ("first-contact-made", 2 * D))
    assert states(contact_only, "PHONE", FOLLOW_UP) == {"org-b": ClockState.BREACHED}
    before = history("PSYCH_CONSULT", ("meeting-recorded", H), ("accepted", 2 * H))
    assert states(before, "PHONE", FOLLOW_UP) == {"org-b": ClockState.BREACHED}
    late = history("PSYCH_CONSULT", ("accepted", H), ("meeting-recorded", 31 * D))
    assert states(late, "PHONE", FOLLOW_UP) == {"org-b": ClockState.BREACHED}
    started = history("PSYCH_CONSULT", ("accepted", H), ("follow-up-started", 20 * D))
    assert states(started, "PHONE", FOLLOW_UP) == {"org-b": ClockState.MET}


URGENT = {DelayStandard.URGENT_HANDLING, DelayStandard.CRISIS_IMMEDIATE}
SIX = {"AAOR", "INFO_SOCIAL", "CRISIS_24_7", "SOCIAL_CONSULT", "PSYCH_CONSULT", "CIVIL_SECURITY"}
"""The six general social services of Annexe II (fiches 1 to 6)."""
OUTSIDE_ANNEXE_II = sorted(set(ServiceCode) - SIX)


def urgent_clocks(steps: list[Step], urgency: str) -> set[tuple[str, str, str]]:
    """The urgent clocks of a request at `LATER`: (standard, organisation, service)."""
    return {
        (c.standard.value, c.responsible_org, c.service)
        for c in compute_clocks(steps, "ELECTRONIC", urgency, POLICY, LATER)
        if c.standard in URGENT
    }


@pytest.mark.parametrize("service", OUTSIDE_ANNEXE_II)
@pytest.mark.parametrize("urgency", ["URGENT", "IMMEDIATE"])
def test_an_urgent_request_to_a_service_outside_annexe_ii_starts_no_clock(service: str, urgency: str) -> None:
    """Annexe II's row "traite toute situation considérée urgente" gives a bound for the six general social services
    only (seed 000, Annexe II; `domain/standards.md`): a CSSS's specific or specialised programme, or a community
    organisation (autonomous, not part of the network), is under no delay standard, so no clock starts for it, none
    is flagged at risk or breached, and no breach is charged to it."""
    assert OUTSIDE_ANNEXE_II == ["COMMUNITY_SERVICE", "SPECIALISED_SERVICES", "SPECIFIC_SERVICES"]
    assert compute_clocks(history(service, ("accepted", H)), "ELECTRONIC", urgency, POLICY, LATER) == []


@pytest.mark.parametrize(("urgency", "standard"), [("URGENT", "URGENT_HANDLING"), ("IMMEDIATE", "CRISIS_IMMEDIATE")])
def test_the_aaor_times_an_urgent_request_from_reception_not_the_community_service_it_orients_to(
    urgency: str, standard: str
) -> None:
    """The AAOR's urgent clock runs from the request (24 h, or immediately, by degree); the community organisation the
    AAOR orients the person to gets none."""
    steps = history("AAOR", ("redirected", H), ("accepted", 2 * H), to_service="COMMUNITY_SERVICE")
    assert urgent_clocks(steps, urgency) == {(standard, "org-b", "AAOR")}
