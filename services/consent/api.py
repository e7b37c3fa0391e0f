"""Consent service REST API (v1): consents, restrictions, decisions, disclosures and the register."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Response
from starlette.concurrency import run_in_threadpool

from services.common.auth import PLATFORM_ORG, AuthenticationError, Principal, TokenVerifier, get_verifier
from services.common.cursors import CURSOR_DESCRIPTION, CURSOR_PATTERN, CursorInvalidError, ListCursors
from services.common.preconditions import IfMatch, if_match_version
from services.common.problems import (
    FORBIDDEN,
    IDEMPOTENCY_KEY_REUSED,
    VALIDATION,
    VERSION_CONFLICT,
    ProblemSpec,
    problem,
)
from services.common.service import from_state
from services.consent.access import (
    AGE_REASONS,
    POLICY,
    WHOLE_REGISTER,
    Recorded,
    age_source,
    age_unreadable,
    consent_parties,
    decision_parties,
    decision_seen,
    fact_records,
    facts_seen,
    named_by_reasons,
    on_request,
    unreadable,
)
from services.consent.api_models import (
    CalendarInstant,
    ConsentCreate,
    ConsentList,
    ConsentPublic,
    ConsentWithdraw,
    DecisionCreate,
    DecisionPublic,
    EvaluationCreate,
    EvaluationPublic,
    RecordedDecisionPublic,
    ReevaluationPublic,
    RefusalCreate,
    RefusalList,
    RefusalPublic,
    RefusalWithdraw,
    RegisterEntryPublic,
    RegisterPage,
    RestrictionCreate,
    RestrictionLift,
    RestrictionList,
    RestrictionPublic,
    RuleTablePublic,
    instant,
)
from services.consent.application import Actor, Consents, RecordedDecision
from services.consent.domain import (
    ConsentAlreadyWithdrawnError,
    ConsentIdempotencyConflictError,
    ConsentNotFoundError,
    ConsentTermsInvalidError,
    ConsentVersionConflictError,
    DecisionNotFoundError,
    RecordLimitReachedError,
    RefusalAlreadyWithdrawnError,
    RefusalNotFoundError,
    RestrictionAlreadyLiftedError,
    RestrictionNotFoundError,
    UnknownRegimeVersionError,
)
from services.consent.explain import Lang, language
from services.consent.policy import to_json
from services.consent.settings import ConsentSettings
from services.consent.views import RegisterQuery
from services.contract.codes import ORG_ID_PATTERN
from services.contract.subject import SubjectId

router = APIRouter(prefix="/v1", tags=["consent"])

DOMAIN_ERRORS: dict[type[Exception], ProblemSpec] = {
    ConsentNotFoundError: ProblemSpec(404, "consent-not-found", "Consent not found"),
    RestrictionNotFoundError: ProblemSpec(404, "restriction-not-found", "Restriction not found"),
    RefusalNotFoundError: ProblemSpec(404, "refusal-not-found", "Refusal not found"),
    DecisionNotFoundError: ProblemSpec(404, "decision-not-found", "Decision not found"),
    ConsentAlreadyWithdrawnError: ProblemSpec(409, "consent-already-withdrawn", "Consent already withdrawn"),
    RestrictionAlreadyLiftedError: ProblemSpec(409, "restriction-already-lifted", "Restriction already lifted"),
    RefusalAlreadyWithdrawnError: ProblemSpec(409, "refusal-already-withdrawn", "Refusal already withdrawn"),
    RecordLimitReachedError: ProblemSpec(409, "record-limit-reached", "The person's records are at their limit"),
    ConsentVersionConflictError: VERSION_CONFLICT,
    ConsentIdempotencyConflictError: IDEMPOTENCY_KEY_REUSED,
    UnknownRegimeVersionError: ProblemSpec(409, "rule-table-unavailable", "Rule table not available"),
    ConsentTermsInvalidError: VALIDATION,  # every route lets it reach this table: one shape of 422 naming the field
    CursorInvalidError: VALIDATION,
}

IdempotencyKey = Annotated[str | None, Header(max_length=200)]


App = Annotated[Consents, Depends(from_state("application"))]
Settings = Annotated[ConsentSettings, Depends(from_state("settings"))]
Cursors = Annotated[ListCursors, Depends(from_state("cursors"))]


def _actor(principal: Principal) -> Actor:
    return Actor(sub=principal.sub, org=principal.org)


def _if_match(value: str | None) -> int | None:
    return if_match_version(value, "must be a version number")


def _lang(body_lang: str | None, accept_language: str | None, settings: ConsentSettings) -> Lang:
    return language(accept_language, body_lang, settings.default_language)


# --- consents ---------------------------------------------------------------------------------------------------


@router.post("/consents", status_code=201, response_model=ConsentPublic, responses={409: {}, 422: {}})
def record_consent(
    body: ConsentCreate,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("record_consent"))],
    consents: App,
    idempotency_key: IdempotencyKey = None,
) -> ConsentPublic:
    """Record a consent given by the person, or by who may consent on their behalf."""
    consent, created = consents.record_consent(body.terms(), _actor(principal), idempotency_key)
    response.headers["ETag"] = str(consent.version)
    response.headers["Location"] = f"/v1/consents/{consent.consent_id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return ConsentPublic.of(consent, consents.clock())


Held = TypeVar("Held", bound=Recorded)


def _held(recorded: Held, principal: Principal, operation: str, missing: Exception) -> Held:
    """A consent, restriction or refusal (and the person's birth date on a consent) is known to the organisation that
    recorded it and to whoever audits that organisation; to anyone else it does not exist."""
    if not POLICY.allows(operation, principal, consent_parties(recorded)):
        raise missing
    return recorded


@router.post("/consents/{consent_id}/withdraw", response_model=ConsentPublic, responses={404: {}, 409: {}, 422: {}})
def withdraw_consent(
    consent_id: uuid.UUID,
    principal: Annotated[Principal, Depends(POLICY.caller("withdraw_consent"))],
    consents: App,
    response: Response,
    body: ConsentWithdraw | None = None,
    if_match: IfMatch = None,
) -> ConsentPublic:
    """Withdraw a consent: nothing is disclosed under it from then on; past disclosures stay as they were."""
    _held(consents.get_consent(consent_id), principal, "withdraw_consent", ConsentNotFoundError("no such consent"))
    body = body or ConsentWithdraw()
    consent = consents.withdraw_consent(
        consent_id,
        _actor(principal),
        at=None if body.at is None else instant(body.at),
        reason=body.reason,
        expected_version=_if_match(if_match),
    )
    response.headers["ETag"] = str(consent.version)
    return ConsentPublic.of(consent, consents.clock())


@router.get("/consents", response_model=ConsentList)
def list_consents(
    principal: Annotated[Principal, Depends(POLICY.caller("list_consents"))],
    consents: App,
    subject_id: Annotated[SubjectId, Query()],
) -> ConsentList:
    """The consents on file for a person that the caller's organisation holds (network auditors: all), withdrawn
    included."""
    now = consents.clock()
    held = [
        c for c in consents.list_consents(subject_id) if POLICY.allows("list_consents", principal, consent_parties(c))
    ]
    return ConsentList(items=[ConsentPublic.of(c, now) for c in held])


@router.get("/consents/{consent_id}", response_model=ConsentPublic, responses={404: {}})
def get_consent(
    consent_id: uuid.UUID,
    principal: Annotated[Principal, Depends(POLICY.caller("get_consent"))],
    consents: App,
    response: Response,
) -> ConsentPublic:
    """One consent and where it stands now (to the organisation that recorded it, and whoever audits it)."""
    consent = _held(consents.get_consent(consent_id), principal, "get_consent", ConsentNotFoundError("no such consent"))
    response.headers["ETag"] = str(consent.version)
    return ConsentPublic.of(consent, consents.clock())


# --- restrictions -----------------------------------------------------------------------------------------------


@router.post("/restrictions", status_code=201, response_model=RestrictionPublic, responses={409: {}, 422: {}})
def record_restriction(
    body: RestrictionCreate,
    principal: Annotated[Principal, Depends(POLICY.caller("record_restriction"))],
    consents: App,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RestrictionPublic:
    """Record a person's restriction or refusal of access (applied under the LRSSS)."""
    restriction, created = consents.record_restriction(body.terms(), _actor(principal), idempotency_key)
    response.headers["Location"] = f"/v1/restrictions/{restriction.restriction_id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return RestrictionPublic.of(restriction)


@router.post("/restrictions/{restriction_id}/lift", response_model=RestrictionPublic, responses={404: {}, 409: {}})
def lift_restriction(
    restriction_id: uuid.UUID,
    principal: Annotated[Principal, Depends(POLICY.caller("lift_restriction"))],
    consents: App,
    body: RestrictionLift | None = None,
) -> RestrictionPublic:
    """Lift a restriction from `at` (default: now), by the organisation that recorded it."""
    missing = RestrictionNotFoundError("no such restriction")
    _held(consents.get_restriction(restriction_id), principal, "lift_restriction", missing)
    at = None if body is None or body.at is None else instant(body.at)
    return RestrictionPublic.of(consents.lift_restriction(restriction_id, _actor(principal), at))


@router.get("/restrictions", response_model=RestrictionList)
def list_restrictions(
    principal: Annotated[Principal, Depends(POLICY.caller("list_restrictions"))],
    consents: App,
    subject_id: Annotated[SubjectId, Query()],
) -> RestrictionList:
    """The restrictions on file for a person that the caller's organisation recorded (network auditors: all)."""
    held = [
        r
        for r in consents.list_restrictions(subject_id)
        if POLICY.allows("list_restrictions", principal, consent_parties(r))
    ]
    return RestrictionList(items=[RestrictionPublic.of(r) for r in held])


@router.get("/restrictions/{restriction_id}", response_model=RestrictionPublic, responses={404: {}})
def get_restriction(
    restriction_id: uuid.UUID,
    principal: Annotated[Principal, Depends(POLICY.caller("get_restriction"))],
    consents: App,
) -> RestrictionPublic:
    """One restriction and whether it was lifted (to the organisation that recorded it, and whoever audits it)."""
    missing = RestrictionNotFoundError("no such restriction")
    return RestrictionPublic.of(_held(consents.get_restriction(restriction_id), principal, "get_restriction", missing))


# --- written refusals (art. 23) ---------------------------------------------------------------------------------


@router.post("/refusals", status_code=201, response_model=RefusalPublic, responses={409: {}, 422: {}})
def record_refusal(
    body: RefusalCreate,
    principal: Annotated[Principal, Depends(POLICY.caller("record_refusal"))],
    consents: App,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RefusalPublic:
    """Record the person's written refusal that relatives in these roles be told of their death."""
    refusal, created = consents.record_refusal(body.terms(), _actor(principal), idempotency_key)
    response.headers["Location"] = f"/v1/refusals/{refusal.refusal_id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return RefusalPublic.of(refusal)


@router.post("/refusals/{refusal_id}/withdraw", response_model=RefusalPublic, responses={404: {}, 409: {}, 422: {}})
def withdraw_refusal(
    refusal_id: uuid.UUID,
    principal: Annotated[Principal, Depends(POLICY.caller("withdraw_refusal"))],
    consents: App,
    body: RefusalWithdraw | None = None,
) -> RefusalPublic:
    """Withdraw a refusal the person withdrew while alive."""
    _held(consents.get_refusal(refusal_id), principal, "withdraw_refusal", RefusalNotFoundError("no such refusal"))
    at = None if body is None or body.at is None else instant(body.at)
    return RefusalPublic.of(consents.withdraw_refusal(refusal_id, _actor(principal), at))


@router.get("/refusals", response_model=RefusalList)
def list_refusals(
    principal: Annotated[Principal, Depends(POLICY.caller("list_refusals"))],
    consents: App,
    subject_id: Annotated[SubjectId, Query()],
) -> RefusalList:
    """The written refusals on file for a person that the caller's organisation holds (network auditors: all)."""
    held = [
        r for r in consents.list_refusals(subject_id) if POLICY.allows("list_refusals", principal, consent_parties(r))
    ]
    return RefusalList(items=[RefusalPublic.of(r) for r in held])


@router.get("/refusals/{refusal_id}", response_model=RefusalPublic, responses={404: {}})
def get_refusal(
    refusal_id: uuid.UUID,
    principal: Annotated[Principal, Depends(POLICY.caller("get_refusal"))],
    consents: App,
) -> RefusalPublic:
    """One written refusal and whether it was withdrawn (to the organisation that recorded it, and whoever audits
    it)."""
    missing = RefusalNotFoundError("no such refusal")
    return RefusalPublic.of(_held(consents.get_refusal(refusal_id), principal, "get_refusal", missing))


# --- decisions and disclosures ----------------------------------------------------------------------------------
# Asynchronous routes: the decision alone goes to the thread pool (it waits there for its group commit); the body and
# the answer are handled on the event loop, without the second thread hop a synchronous route pays to serialise.


@router.post("/decisions", response_model=DecisionPublic, responses={409: {}, 422: {}})
async def decide(
    body: DecisionCreate,
    principal: Annotated[Principal, Depends(POLICY.caller("decide"))],
    consents: App,
    settings: Settings,
    response: Response,
    accept_language: Annotated[str | None, Header()] = None,
    idempotency_key: IdempotencyKey = None,
) -> DecisionPublic:
    """Decide whether the categories may be disclosed (nothing is disclosed or registered); asked by the discloser
    or the recipient (or their auditors). The discloser's answer reads its consents, restrictions and refusals; the
    recipient's is a preview of what the consents it holds allow, reading none of the discloser's records."""
    parties = {"discloser": body.discloser_org_id, "recipient": body.recipient_org_id}
    POLICY.check("decide", principal, parties, "only the discloser or the recipient asks for a decision")
    recorded, created = await run_in_threadpool(consents.decide, body.request(), _actor(principal), idempotency_key)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return DecisionPublic.of(
        await answer_seen(consents, principal, recorded), _lang(body.lang, accept_language, settings)
    )


async def answer_seen(consents: Consents, reader: Principal, recorded: RecordedDecision) -> RecordedDecision:
    """A decision's answer as `reader` may read it: its reasons name the consents, restrictions and refusals it may
    not read itself without their ids and details, and those the person's age band decided without their details
    when the band was read from a consent it may not read. Holders are read only when the reasons name records or
    the age band: on the event loop from a store read in process, else on the thread pool (as the decision lane
    decides)."""
    named = named_by_reasons(recorded)
    by_age = any(reason.code in AGE_REASONS for reason in recorded.decision.reasons)
    if not named and not by_age:
        return recorded
    looked_up = [*named, *age_source(recorded)] if by_age else named
    if consents.reads_in_process:
        holders = consents.holders(looked_up)
    else:
        holders = await run_in_threadpool(consents.holders, looked_up)
    age_hidden = by_age and age_unreadable(reader, recorded, holders)
    return decision_seen(recorded, unreadable(reader, recorded, named, holders), age_hidden)


@router.post("/disclosures", response_model=DecisionPublic, responses={403: {}, 409: {}, 422: {}})
async def disclose(
    body: DecisionCreate,
    principal: Annotated[Principal, Depends(POLICY.caller("disclose"))],
    consents: App,
    settings: Settings,
    response: Response,
    verifier: Annotated[TokenVerifier, Depends(get_verifier)],
    accept_language: Annotated[str | None, Header()] = None,
    idempotency_key: IdempotencyKey = None,
    requester_token: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=8192,
            description=f"A platform service (organisation `{PLATFORM_ORG}`) disclosing for the discloser: the bearer "
            "token of the recipient's worker who asked (recorded as the requester); from anyone else, 403",
        ),
    ] = None,
) -> DecisionPublic:
    """Decide and, when anything is permitted, enter the disclosure in the discloser's register (one transaction)."""
    actor, reader = _discloser(principal, body, requester_token, verifier)
    recorded, created = await run_in_threadpool(consents.disclose, body.request(), actor, idempotency_key)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return DecisionPublic.of(await answer_seen(consents, reader, recorded), _lang(body.lang, accept_language, settings))


def _discloser(
    principal: Principal, body: DecisionCreate, requester_token: str | None, verifier: TokenVerifier
) -> tuple[Actor, Principal]:
    """Who enters the disclosure: a member of the discloser, or the recipient's worker a platform service acts for
    (who reads the answer)."""
    if not on_request(principal, requester_token is not None):
        parties = {"discloser": body.discloser_org_id}
        POLICY.check("disclose", principal, parties, "only the discloser writes in its disclosure register")
        return _actor(principal), principal
    if not principal.platform_service:
        raise problem(
            FORBIDDEN,
            f"Requester-Token: only a platform service (organisation {PLATFORM_ORG}) discloses on a worker's behalf; "
            "a worker discloses as a member of the discloser, without this header; an organisation's own service does "
            "not disclose",
        )
    if requester_token is None:
        raise problem(FORBIDDEN, "a service discloses only for a worker: Requester-Token")
    try:
        requester = verifier.verify(requester_token)
    except AuthenticationError as error:
        raise problem(FORBIDDEN, f"Requester-Token: {error}") from None
    parties = {"recipient": body.recipient_org_id}
    POLICY.check("disclose_on_request", requester, parties, "the requester must be a worker of the recipient")
    return _actor(requester), requester


@router.get("/decisions/{decision_id}", response_model=RecordedDecisionPublic, responses={404: {}})
def get_decision(
    decision_id: uuid.UUID,
    principal: Annotated[Principal, Depends(POLICY.caller("get_decision"))],
    consents: App,
    settings: Settings,
    accept_language: Annotated[str | None, Header()] = None,
) -> RecordedDecisionPublic:
    """A past decision with its input and facts (to the organisations it concerns and their auditors); a consent,
    restriction or refusal among them that the caller may not read itself shows only who holds it, and the person's
    age bands read from such a consent's birth date are null."""
    recorded = consents.get_decision(decision_id)
    if not POLICY.allows("get_decision", principal, decision_parties(recorded)):
        raise DecisionNotFoundError("no such decision")
    records = list(fact_records(recorded.facts))
    holders = consents.holders([*records, *age_source(recorded)])
    hidden = unreadable(principal, recorded, records, holders)
    age_hidden = age_unreadable(principal, recorded, holders)
    public = DecisionPublic.of(decision_seen(recorded, hidden, age_hidden), _lang(None, accept_language, settings))
    return RecordedDecisionPublic(
        **public.model_dump(),
        kind=recorded.kind,
        input=to_json(recorded.input),
        facts=facts_seen(recorded, hidden, age_hidden),
        justification=recorded.justification,
    )


@router.post("/decisions/{decision_id}/reevaluate", response_model=ReevaluationPublic, responses={404: {}, 409: {}})
def reevaluate(
    decision_id: uuid.UUID, principal: Annotated[Principal, Depends(POLICY.caller("reevaluate"))], consents: App
) -> ReevaluationPublic:
    """Re-run the engine on a recorded decision's input and facts; `same` must be true."""
    if not POLICY.allows("reevaluate", principal, decision_parties(consents.get_decision(decision_id))):
        raise DecisionNotFoundError("no such decision")
    recorded, again = consents.reevaluate(decision_id)
    return ReevaluationPublic(
        decision_id=str(decision_id),
        regime=recorded.decision.regime,
        regime_version=recorded.decision.regime_version,
        same=again == recorded.decision,
        recorded_outcome=recorded.decision.outcome,
        reevaluated_outcome=again.outcome,
        reevaluated_permitted_categories=list(again.permitted_categories),
    )


@router.post("/evaluations", response_model=EvaluationPublic, responses={409: {}, 422: {}})
def evaluate_recorded(
    body: EvaluationCreate,
    principal: Annotated[Principal, Depends(POLICY.caller("evaluate_recorded"))],
    consents: App,
    settings: Settings,
    accept_language: Annotated[str | None, Header()] = None,
) -> EvaluationPublic:
    """Re-run the engine on the input and facts of a decision event (auditors of the organisations it names: its
    discloser, recipient or requester); records nothing."""
    POLICY.check("evaluate_recorded", principal, body.parties(), "an auditor re-runs the decisions of its organisation")
    decision = consents.evaluate(*body.parts())
    return EvaluationPublic.of(decision, _lang(None, accept_language, settings))


@router.get("/rules", response_model=list[RuleTablePublic])
def rules(principal: Annotated[Principal, Depends(POLICY.caller("rules"))], consents: App) -> list[RuleTablePublic]:
    """The rule tables this build applies or re-applies (LSSSS arts. 17-27.3 and the LRSSS), as data."""
    return [
        RuleTablePublic(regime=table.regime, version=version, applied=applied, table=to_json(table))
        for version, table, applied in consents.rule_tables()
    ]


# --- the register -----------------------------------------------------------------------------------------------


@router.get("/register", response_model=RegisterPage)
def register(
    principal: Annotated[Principal, Depends(POLICY.caller("register"))],
    consents: App,
    cursors: Cursors,
    subject_id: Annotated[SubjectId | None, Query()] = None,
    recipient_org: Annotated[str | None, Query(pattern=ORG_ID_PATTERN)] = None,
    from_: Annotated[CalendarInstant | None, Query(alias="from")] = None,
    to: Annotated[CalendarInstant | None, Query()] = None,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN, description=CURSOR_DESCRIPTION)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> RegisterPage:
    """The disclosure register of the caller's organisation (network auditors: every organisation's), oldest first:
    all of it to its coordinators and auditors, the entries they made to its other members."""
    query = RegisterQuery(
        subject_id=subject_id,
        discloser_org_id=None if principal.audits_network else principal.org,
        disclosed_by=None if principal.roles & WHOLE_REGISTER else principal.sub,
        recipient_org_id=recipient_org,
        from_=None if from_ is None else instant(from_),
        to=None if to is None else instant(to),
        limit=limit,
    )
    bound = query.cursor_binding(principal.org)
    if cursor is not None:  # the position of the last entry listed, sealed: it tells nothing of other registers
        query = replace(query, after=cursors.open(cursor, bound))
    rows, next_position = consents.register_entries(query)
    next_cursor = None if next_position is None else cursors.seal(next_position, bound)
    return RegisterPage(items=[RegisterEntryPublic.of(r) for r in rows], next_cursor=next_cursor)
