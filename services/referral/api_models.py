"""Request and response bodies of the referral API (XCreate / XPublic)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.params import Instant
from services.contract.codes import (
    ORG_ID_PATTERN,
    Accompaniment,
    Channel,
    InfoCategory,
    MeetingMode,
    Purpose,
    ServiceCode,
    Urgency,
)
from services.contract.delay_standards import Clock as DelayClock
from services.contract.referral_events import ClockState, DelayStandard
from services.contract.subject import SubjectId
from services.referral.application import Asked, Release, Undecided

CODE_PATTERN = r"^[A-Z][A-Z0-9_]{0,39}$"
MAX_PLANNED_MEETINGS = 500


class ReferralCreate(BaseModel):
    """A referral of a person (pseudonymous `subject_id`) to another organisation's service."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "subject_id": "usager-0001",
                    "from_org": "csss-vieille-capitale",
                    "from_service": "AAOR",
                    "to_org": "centre-crise-quebec",
                    "to_service": "CRISIS_24_7",
                    "channel": "PHONE",
                    "urgency": "URGENT",
                    "reason_code": "FAMILY_CRISIS",
                }
            ]
        },
    )

    subject_id: SubjectId
    from_org: str = Field(pattern=ORG_ID_PATTERN)
    from_service: ServiceCode
    to_org: str = Field(pattern=ORG_ID_PATTERN)
    to_service: ServiceCode
    channel: Channel
    urgency: Urgency
    reason_code: str = Field(min_length=1, max_length=64)
    accompaniment: Accompaniment = Accompaniment.NONE
    agreement_id: str | None = Field(None, max_length=64)
    information: dict[InfoCategory, Annotated[str, Field(min_length=1, max_length=20_000)]] = Field(
        default_factory=dict, description="Record information by category: encrypted at rest, never on a topic"
    )


class StepIn(BaseModel):
    """When the step happened (default now; may be in the past, never in the future)."""

    model_config = ConfigDict(extra="forbid")

    at: Instant | None = None


class RefuseIn(StepIn):
    reason: str = Field(min_length=1, max_length=500)


class RedirectIn(StepIn):
    to_org: str = Field(pattern=ORG_ID_PATTERN)
    to_service: ServiceCode


class CloseIn(StepIn):
    outcome: str = Field(pattern=CODE_PATTERN, description="An outcome code, e.g. SERVICES_RENDERED")


class MeetingIn(StepIn):
    """A meeting with the person took place: when and how. Nothing about what was said."""

    mode: MeetingMode


class PlanIn(StepIn):
    """The intervention plan's term: how many meetings it foresees."""

    planned_meetings: int = Field(ge=1, le=MAX_PLANNED_MEETINGS)


AppliedClockState = Literal[ClockState.RUNNING, ClockState.MET, ClockState.AT_RISK, ClockState.BREACHED]
"""The states of the clocks that apply to a referral (the contract's): a clock stopped before its bound, the
referral having ended or left its receiver first, no longer applies and is not listed."""


class ClockPublic(BaseModel):
    standard: DelayStandard
    bound: str = Field(description="ISO 8601 duration")
    bound_s: int
    started_at: datetime
    due_at: datetime
    met_at: datetime | None
    state: AppliedClockState
    responsible_org: str

    @classmethod
    def of(cls, c: DelayClock) -> ClockPublic:
        seconds = int(c.bound.total_seconds())
        return cls(
            standard=c.standard,
            bound=iso_duration(seconds, c.in_days),
            bound_s=seconds,
            started_at=c.started_at,
            due_at=c.due_at,
            met_at=c.met_at,
            state=c.state,
            responsible_org=c.responsible_org,
        )

    @classmethod
    def applied(cls, clocks: Iterable[DelayClock]) -> list[ClockPublic]:
        """The clocks that apply to the referral: those stopped before their bound are left out."""
        return [cls.of(c) for c in clocks if c.state is not ClockState.STOPPED]


def iso_duration(seconds: int, in_days: bool) -> str:
    """`P10D` for a bound in calendar days, `PT24H` for an exact one (in ISO 8601 a day is a calendar day)."""
    if in_days:
        return f"P{seconds // 86_400}D"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if v)
    return f"PT{time or '0S'}"


class CompliancePublic(BaseModel):
    standard: DelayStandard
    total: int
    met: int
    breached: int
    pct_met: float | None
    median_s: float | None


class ReleaseDecisionPublic(BaseModel):
    """One decision of the consent service on a read: the purpose it was asked for, the categories it permitted
    (released, and registered under `register_entry_id`) and those it denied."""

    decision_id: str
    purpose: Purpose
    permitted_categories: list[InfoCategory]
    denied_categories: list[InfoCategory]
    register_entry_id: str | None

    @classmethod
    def of(cls, asked: Asked) -> ReleaseDecisionPublic:
        d = asked.decision
        return cls(
            decision_id=d.decision_id,
            purpose=asked.purpose,
            permitted_categories=d.permitted_categories,
            denied_categories=d.denied_categories,
            register_entry_id=d.register_entry_id,
        )


class UndecidedPublic(BaseModel):
    """Categories the consent service gave no decision on: asking it for them (for `purpose`) failed after another
    decision of the read had permitted some. Nothing was released for them; a later read asks again."""

    purpose: Purpose
    categories: list[InfoCategory]
    explanation: str = Field(description="Why: the consent service did not answer, or refused the request")

    @classmethod
    def of(cls, undecided: Undecided) -> UndecidedPublic:
        return cls(purpose=undecided.purpose, categories=undecided.categories, explanation=undecided.explanation)


class InformationPublic(BaseModel):
    """The record information released: only the categories the consent service permitted. Categories asked for that
    the referral does not hold are neither released nor denied (the consent service is not asked about them)."""

    decision_id: str | None = Field(
        description="The consent service's first decision that released anything (`decisions` lists them all); null "
        "when the referral holds none of the categories asked for (nothing was asked, nothing registered)"
    )
    information: dict[InfoCategory, str]
    denied_categories: list[InfoCategory] = Field(
        description="Not released: denied by one of `decisions` (in its own `denied_categories`; its explanation says "
        "why), or not decided (`undecided`)"
    )
    basis: list[dict[str, Any]] = Field(description="The legal bases of what was released, every decision's")
    obligations: list[str] = Field(description="The obligations attached to what was released, every decision's")
    register_entry_id: str | None = Field(description="The register entry of `decision_id`")
    decisions: list[ReleaseDecisionPublic] = Field(
        default_factory=list,
        description="Every decision the consent service took on this read, in the order asked, each on categories of "
        "its own (a category is decided once): for a service the receiver provides on the referring institution's "
        "behalf under a service agreement (art. 108), SERVICE_ON_BEHALF for the categories the agreement's "
        "information-sharing clause carries, then REFERRAL (the person's consent to the referral) for the others; "
        "for any other referral, REFERRAL alone. A category one decision denies is not asked for another purpose.",
    )
    undecided: UndecidedPublic | None = Field(
        None,
        description="The categories the consent service gave no decision on (also in `denied_categories`), when "
        "asking it for them failed after another decision permitted some: what was permitted is released (it is "
        "registered); null when every category asked was decided",
    )

    @classmethod
    def of(cls, release: Release) -> InformationPublic:
        releasing = [asked.decision for asked in release.decisions if asked.decision.permitted_categories]
        first = releasing[0] if releasing else None
        return cls(
            decision_id=first.decision_id if first else None,
            information=release.information,
            denied_categories=release.denied_categories,
            basis=[basis for d in releasing for basis in d.basis],
            obligations=list(dict.fromkeys(o for d in releasing for o in d.obligations)),
            register_entry_id=first.register_entry_id if first else None,
            decisions=[ReleaseDecisionPublic.of(asked) for asked in release.decisions],
            undecided=UndecidedPublic.of(release.undecided) if release.undecided else None,
        )
