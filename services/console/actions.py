"""The actions a worker can take on a referral, as data: one entry per command of the referral API.

An action is offered when the referral is in one of its statuses, the worker's organisation is on the right side
(the receiver acts; the sender may only cancel) and the referral API offers its path (read from the service's
OpenAPI document) — so an action the API gains later (issue 15's meetings) appears by itself, and one it lacks is
never shown. Each action posts with `If-Match: <version the worker saw>`; the API answers 409 if someone else
changed the referral in between."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from services.contract.codes import ReferralStatus as S
from services.contract.codes import ServiceCode

OPEN = frozenset({S.SUBMITTED, S.RECEIVED, S.ANALYSED, S.REDIRECTED, S.FIRST_CONTACT_MADE})
"""Not yet accepted by the current receiver (FIRST_CONTACT_MADE only before acceptance: a first contact may come
first): the referral API's own `OPEN`."""
UNDER_WAY = frozenset({S.ACCEPTED, S.FIRST_CONTACT_MADE, S.FOLLOW_UP_STARTED})
LIVE = OPEN | UNDER_WAY

Stage = Literal["before", "after", "any"]

Side = Literal["receiver", "sender"]


@dataclass(frozen=True)
class Input:
    """A field the action's body needs besides `at`; `codes` makes it a choice among contract codes."""

    name: str
    label: str
    codes: str | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Action:
    command: str
    step: str
    """The step it enters in the referral's history (the referral API's `history[].step`)."""
    statuses: frozenset[S]
    side: Side = "receiver"
    inputs: tuple[Input, ...] = ()
    at_required: bool = False
    tone: Literal["primary", "plain", "danger"] = "plain"
    stage: Stage = "any"
    """Offered only before the current receiver accepted the referral, only after, or either way."""
    in_v1: bool = True
    """Part of the first referral API (assumed offered when the OpenAPI document cannot be read)."""

    @property
    def path(self) -> str:
        return f"/v1/referrals/{{referral_id}}/{self.command}"


MEETING_MODES = ("IN_PERSON", "PHONE", "VIDEO", "GROUP")

ACTIONS: tuple[Action, ...] = (
    Action("receive", "received", frozenset({S.SUBMITTED, S.REDIRECTED})),
    Action("callback", "called-back", LIVE),
    Action("analyse", "analysed", OPEN - {S.ANALYSED}, stage="before"),
    Action("accept", "accepted", OPEN, tone="primary", stage="before"),
    Action("refuse", "refused", OPEN, inputs=(Input("reason", "field.reason"),), tone="danger", stage="before"),
    Action(
        "redirect",
        "redirected",
        OPEN - {S.REDIRECTED},
        inputs=(
            Input("to_org", "field.to_org"),
            Input("to_service", "field.to_service", "ServiceCode", tuple(ServiceCode)),
        ),
        stage="before",
    ),
    Action("first-contact", "first-contact-made", OPEN - {S.FIRST_CONTACT_MADE} | {S.ACCEPTED, S.FOLLOW_UP_STARTED}),
    Action("start-follow-up", "follow-up-started", frozenset({S.ACCEPTED, S.FIRST_CONTACT_MADE}), stage="after"),
    Action(
        "meetings",
        "meeting-recorded",
        UNDER_WAY,
        inputs=(Input("mode", "field.mode", "MeetingMode", MEETING_MODES),),
        at_required=True,
        in_v1=False,
    ),
    Action("close", "closed", UNDER_WAY, inputs=(Input("outcome", "field.outcome"),), stage="after"),
    Action("cancel", "cancelled", OPEN, side="sender", tone="danger", stage="before"),
)

BY_COMMAND = {action.command: action for action in ACTIONS}


def side_of(org: str, referral: dict[str, object]) -> Side | None:
    if referral.get("to_org") == org:
        return "receiver"
    if referral.get("from_org") == org:
        return "sender"
    return None


def taken_last(action: Action, org: str, referral: dict[str, Any]) -> bool:
    """Whether the referral's last step is `action`'s, taken by `org` (the only organisation the referral API lets take
    it: its sender, or the receiver it was addressed to then; a redirection's receiver is the one before it)."""
    history = [m for m in referral.get("history") or [] if isinstance(m, dict)]
    if not history or history[-1].get("step") != action.step:
        return False
    if action.side == "sender":
        return referral.get("from_org") == org
    taker = history[-2] if action.step == "redirected" and len(history) > 1 else history[-1]
    return taker.get("to_org", referral.get("to_org")) == org


def accepted(referral: dict[str, object]) -> bool:
    """Whether the current receiver accepted the referral (an acceptance since the last redirection)."""
    history = referral.get("history")
    steps = [str(m.get("step")) for m in history if isinstance(m, dict)] if isinstance(history, list) else []
    since = steps[len(steps) - steps[::-1].index("redirected") :] if "redirected" in steps else steps
    return "accepted" in since


def allowed(referral: dict[str, object], org: str, offered_paths: frozenset[str] | None) -> list[Action]:
    """The actions the worker's organisation may take now (`offered_paths`: the API's paths; None when unknown). The
    API refuses what is recorded once only (a second call-back, a second analysis) with a 409 the page explains."""
    side = side_of(org, referral)
    status = referral.get("status")
    stage = "after" if accepted(referral) else "before"
    return [
        action
        for action in ACTIONS
        if action.side == side
        and status in action.statuses
        and action.stage in ("any", stage)
        and (action.path in offered_paths if offered_paths is not None else action.in_v1)
    ]
