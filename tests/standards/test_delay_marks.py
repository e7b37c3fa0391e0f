"""Delay standards on the board (services/contract/delay_standards.py via services/standards/referrals.py), read
against Annexe II: what completes an AAOR's request, which requests its analysis standard covers, what starts a
consultation's follow-up, which services an urgent situation is timed for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.standards.domain import RowKey
from services.standards.referrals import StepRecord, referral_marks
from services.standards.settings import StandardsSettings

BOUNDS = StandardsSettings().bounds()
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday 09:00 in Montréal
H, D = timedelta(hours=1), timedelta(days=1)


def history(
    service: str, channel: str, *steps: tuple[str, timedelta], urgency: str = "ROUTINE"
) -> dict[str, StepRecord]:
    """A referral's steps as the board's table keeps them, keyed by CloudEvent id (a redirect orients the person to
    another organisation's social consultation)."""
    rows = [("submitted", timedelta(0)), *steps]
    return {
        f"e{n}": {
            "name": name,
            "at": (T0 + after).isoformat(),
            "to_org": "csss-c" if name == "redirected" else "csss-a",
            "to_service": "SOCIAL_CONSULT" if name == "redirected" else service,
            "channel": channel,
            "urgency": urgency,
            "planned": 8 if name.startswith("intervention-plan") else None,
        }
        for n, (name, after) in enumerate(rows)
    }


def month(marks: list[tuple[RowKey, bool]]) -> dict[str, bool]:
    return {key.standard: met for key, met in marks if key.period == "MONTH"}


def test_an_aaor_that_accepts_the_request_on_day_1_has_completed_it() -> None:
    """Annexe II: "Délai maximal pour compléter la demande suivant la réception de celle-ci par téléphone ou en face à
    face: 10 jours". The AAOR that takes the request on itself (<= 3 meetings) cannot `analyse` after accepting."""
    h = history("AAOR", "IN_PERSON", ("first-contact-made", H), ("accepted", D), ("meeting-recorded", 2 * D),
                ("meeting-recorded", 5 * D), ("meeting-recorded", 11 * D), ("closed", 11 * D + H))  # fmt: skip
    assert month(referral_marks(h, BOUNDS)) == {
        "AAOR_FIRST_CONTACT": True,
        "AAOR_MEETINGS": True,
        "AAOR_ANALYSIS": True,
    }


def test_an_aaor_that_orients_the_request_elsewhere_has_completed_it() -> None:
    oriented = history("AAOR", "IN_PERSON", ("first-contact-made", H), ("redirected", 3 * D))
    assert month(referral_marks(oriented, BOUNDS))["AAOR_ANALYSIS"] is True
    late = history("AAOR", "PHONE", ("called-back", H), ("refused", 12 * D))
    assert month(referral_marks(late, BOUNDS))["AAOR_ANALYSIS"] is False


def test_an_electronic_request_to_the_aaor_is_not_under_the_analysis_standard() -> None:
    """The analysis standard is for a request received "par téléphone ou en face à face"."""
    assert month(referral_marks(history("AAOR", "ELECTRONIC", ("analysed", 11 * D)), BOUNDS)) == {}
    assert month(referral_marks(history("AAOR", "PHONE", ("analysed", 11 * D)), BOUNDS))["AAOR_ANALYSIS"] is False


def test_a_consultation_followed_in_weekly_meetings_has_started_its_follow_up() -> None:
    """Annexe II: "Délai maximal avant que l'intervenant débute le suivi avec la personne à la suite de
    l'acceptation: 30 jours": the first meeting after acceptance starts it, `start-follow-up` entered or not."""
    meetings = [("meeting-recorded", n * 7 * D) for n in range(1, 7)]
    h = history("SOCIAL_CONSULT", "ELECTRONIC", ("accepted", H), ("intervention-plan-set", 7 * D), *meetings,
                ("closed", 45 * D))  # fmt: skip
    assert month(referral_marks(h, BOUNDS)) == {
        "CONSULT_FIRST_CONTACT": True,
        "CONSULT_MEETINGS": True,
        "CONSULT_PLAN": True,
        "CONSULT_FOLLOW_UP": True,
    }


@pytest.mark.parametrize("service", ["COMMUNITY_SERVICE", "SPECIFIC_SERVICES", "SPECIALISED_SERVICES"])
@pytest.mark.parametrize("urgency", ["URGENT", "IMMEDIATE"])
def test_an_urgent_referral_outside_annexe_ii_gives_the_board_no_row(service: str, urgency: str) -> None:
    """Annexe II's urgent-handling row names the six general social services only: an urgent referral to a community
    organisation, or a specific or specialised programme, charges it no breach on the board, even with a
    `delay-breached` a release that timed it recorded (its flags stay in the history)."""
    flagged = history(service, "ELECTRONIC", ("delay-breached", D), ("closed", 3 * D), urgency=urgency)
    assert referral_marks(flagged, BOUNDS) == []
    aaor = history("AAOR", "ELECTRONIC", ("first-contact-made", 30 * H), urgency=urgency)
    assert month(referral_marks(aaor, BOUNDS)) == {
        "URGENT_HANDLING" if urgency == "URGENT" else "CRISIS_IMMEDIATE": False
    }


def test_the_board_judges_a_clock_by_the_bound_in_force_when_it_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """The region sets 7 days for the AAOR's analysis from the day after T0: a request received at T0 and completed
    on day 8 stays met under the 10 days in force then (as the referral service judges it); one received from that
    day on and completed on day 8 is breached."""
    from_ = (T0 + D).astimezone(BOUNDS.zone).date()
    monkeypatch.setenv("STANDARDS_STANDARD_BOUNDS_S", f'{{"AAOR_ANALYSIS": [{{"s": 604800, "from": "{from_}"}}]}}')
    bounds = StandardsSettings().bounds()
    before = history("AAOR", "PHONE", ("called-back", H), ("analysed", 8 * D))
    assert month(referral_marks(before, bounds))["AAOR_ANALYSIS"] is True
    after = {
        key: {**step, "at": (datetime.fromisoformat(step["at"]) + 2 * D).isoformat()}
        for key, step in history("AAOR", "PHONE", ("called-back", H), ("analysed", 8 * D)).items()
    }
    assert month(referral_marks(after, bounds))["AAOR_ANALYSIS"] is False
