"""The console's pure parts: languages and Québec time, the clock that matters, sealed cookies, PKCE, vendored JS."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.console.actions import ACTIONS, allowed
from services.console.catalogue import CODES
from services.console.i18n import Translator
from services.console.oidc import challenge
from services.console.revocations import Revocations
from services.console.session import SealedCookies
from services.console.views import local_to_instant, most_pressing
from services.console.web import HERE
from services.contract.codes import (
    AgreementKind,
    AgreementStatus,
    ConsentMethod,
    GrantorRole,
    InfoCategory,
    Obligation,
    Purpose,
    ReferralStatus,
    ServiceCode,
    Urgency,
)
from services.contract.duration_standards import MEETING
from services.contract.referral_events import ClockState, DelayStandard
from services.referral.domain import TRANSITIONS

MONTREAL = ZoneInfo("America/Montreal")
FR, EN = Translator("fr", MONTREAL), Translator("en", MONTREAL)


def test_dates_are_shown_in_montreal_time_in_the_users_language() -> None:
    winter = datetime(2026, 1, 1, 19, 5, tzinfo=UTC)  # 14 h 05 in Montréal (UTC-5)
    summer = "2026-07-01T18:30:00+00:00"  # 14 h 30 (UTC-4)
    assert FR.when(winter) == "1er janvier 2026, 14 h 05"
    assert EN.when(winter) == "January 1, 2026, 2:05 PM"
    assert FR.when(summer) == "1er juillet 2026, 14 h 30"
    assert FR.duration(2 * 3600 + 15 * 60) == "2 h 15 min" and EN.duration(-3 * 86_400 - 3600) == "3 d 1 h"


@pytest.mark.parametrize(
    "family",
    [
        ReferralStatus,
        ServiceCode,
        Urgency,
        InfoCategory,
        Purpose,
        GrantorRole,
        ConsentMethod,
        Obligation,
        AgreementKind,
        AgreementStatus,
        DelayStandard,
        ClockState,
    ],
)
def test_every_code_of_the_contract_has_a_french_and_an_english_label(family: type) -> None:
    labels = CODES[family.__name__]
    assert {member.value for member in family} <= set(labels)  # type: ignore[attr-defined]
    assert all(fr and en for fr, en in labels.values())


def test_the_clock_that_matters_is_the_organisations_own_most_pressing() -> None:
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)

    def clock(standard: str, state: str, due_in_min: int, org: str) -> dict[str, object]:
        due = now + timedelta(minutes=due_in_min)
        return {"standard": standard, "state": state, "due_at": due.isoformat(), "responsible_org": org}

    clocks = [
        clock("AAOR_ANALYSIS", "RUNNING", 60, "receiver"),
        clock("URGENT_HANDLING", "AT_RISK", 300, "receiver"),
        clock("AAOR_CALLBACK", "MET", -5, "receiver"),
        clock("CRISIS_IMMEDIATE", "BREACHED", -10, "someone-else"),
    ]
    mine = most_pressing(clocks, "receiver", now)
    assert mine is not None and mine.standard == "URGENT_HANDLING" and mine.tone == "at-risk"
    waiting_on = most_pressing(clocks, "sender", now)  # a sender sees the clock it waits on
    assert waiting_on is not None and waiting_on.standard == "CRISIS_IMMEDIATE" and waiting_on.seconds_left == -600
    assert most_pressing([clocks[2]], "receiver", now) is None


def test_a_form_time_is_montreal_wall_time() -> None:
    assert local_to_instant("2026-03-02T09:30", MONTREAL) == "2026-03-02T09:30:00-05:00"
    assert local_to_instant("", MONTREAL) is None


def test_a_sealed_cookie_opens_only_for_its_purpose_and_unaltered() -> None:
    revocations = Revocations("memory://")
    cookies = SealedCookies(b"k" * 32, 1800, revocations)
    sealed = cookies.seal("session", {"org": "csss"})
    assert cookies.open("session", sealed) == {"org": "csss"}
    assert cookies.open("signin", sealed) is None
    assert cookies.open("session", sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]) is None
    assert SealedCookies(b"x" * 32, 1800, revocations).open("session", sealed) is None


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    assert challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_sender_may_only_cancel_and_a_closed_referral_offers_nothing() -> None:
    paths = frozenset(action.path for action in ACTIONS)
    submitted = {"status": "SUBMITTED", "from_org": "a", "to_org": "b"}
    assert [a.command for a in allowed(submitted, "a", paths)] == ["cancel"]
    assert allowed({**submitted, "status": "CLOSED"}, "b", paths) == []
    assert allowed(submitted, "c", paths) == []  # neither party


def test_the_actions_follow_the_referral_api_before_and_after_acceptance() -> None:
    """A first contact may come before acceptance (the referral stays open: analyse, accept, refuse, redirect) or
    after it (follow-up, close); a call-back is offered in any live status, a first contact after the follow-up."""
    paths = frozenset(action.path for action in ACTIONS)
    contacted = {"status": "FIRST_CONTACT_MADE", "from_org": "a", "to_org": "b"}
    before = {**contacted, "history": [{"step": "submitted"}, {"step": "first-contact-made"}]}
    after = {**contacted, "history": [{"step": "submitted"}, {"step": "accepted"}, {"step": "first-contact-made"}]}
    redirected = {**contacted, "history": [*after["history"], {"step": "redirected"}, {"step": "first-contact-made"}]}
    offered = ["callback", "analyse", "accept", "refuse", "redirect", "meetings"]
    assert [a.command for a in allowed(before, "b", paths)] == offered
    assert [a.command for a in allowed(after, "b", paths)] == ["callback", "start-follow-up", "meetings", "close"]
    assert allowed(redirected, "b", paths) == allowed(before, "b", paths)  # the new receiver has not accepted
    assert [a.command for a in allowed(before, "a", paths)] == ["cancel"]
    following = {**after, "status": "FOLLOW_UP_STARTED"}
    assert [a.command for a in allowed(following, "b", paths)] == ["callback", "first-contact", "meetings", "close"]


def test_the_vendored_htmx_is_the_pinned_release() -> None:
    """htmx.org 2.0.11 from npm, dist/htmx.min.js, unmodified (BSD-0): 52,182 bytes, about 16 KiB gzipped."""
    digest = hashlib.sha256((HERE / "static" / "htmx.min.js").read_bytes()).hexdigest()
    assert digest == "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"


def test_each_action_names_the_step_the_referral_api_enters_for_it() -> None:
    """The confirmation after an action reads the referral's last step: the names are the referral service's."""
    steps = {command: transition.name for command, transition in TRANSITIONS.items()} | {"meetings": MEETING}
    assert {action.command: action.step for action in ACTIONS} == steps
