"""The worklist and a referral's page: timeline, clocks, the actions its state allows (with If-Match), the record
information through the consent gate, and recording a consent."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BeforeValidator
from starlette.datastructures import FormData

from services.common.clock import system_clock
from services.console.actions import BY_COMMAND, allowed, side_of, taken_last
from services.console.forms import (
    VERSION,
    FormErrors,
    FormValueError,
    form_values,
    idempotency,
    problem_message,
    rendered_value,
)
from services.console.gateway import ApiProblemError, Gateway
from services.console.i18n import Translator
from services.console.session import AUDITORS, Session
from services.console.views import local_to_instant, most_pressing, short_id, worklist_order
from services.console.web import Api, Console, ConsoleDep, Form, SignedIn, T, render, requires, see_other
from services.contract.codes import (
    ConsentMethod,
    GrantorRole,
    InfoCategory,
    Purpose,
    ReferralStatus,
    ServiceCode,
    Urgency,
)

router = APIRouter()

WORKERS = ("intake", "clinician", "coordinator")
READERS = (*WORKERS, *AUDITORS)
LIST_PAGE = 500
LIST_CAP = 2000
"""The referral API filters by organisation and status; service and urgency are filtered here, over at most this
many referrals."""
DIRECTIONS = {"recues": "to_org", "envoyees": "from_org", "toutes": None}
INFORMATION_ENDED = frozenset(
    s.value for s in (ReferralStatus.REFUSED, ReferralStatus.CANCELLED, ReferralStatus.CLOSED)
)
"""The referral service releases no record information in these statuses (minimum necessary): no form is offered."""
REPRESENTATIVES = frozenset(
    {GrantorRole.TUTOR, GrantorRole.CURATOR, GrantorRole.MANDATARY, GrantorRole.CARE_SUBSTITUTE}
)
"""Who consents on the person's behalf "only within that mandate" (consent-rules.md, "Who may consent"): the consent
API requires the purposes their mandate covers (`granted_by.scope`) from them. The consent service decides; the
console only asks for the field (and says it is missing) for these roles, as the consent API's rule tables name them."""


def _all_when_blank(value: object) -> object:
    """The filters' "all" choice: a GET form sends the empty value (`service=`)."""
    return value or None


AllWhenBlank = BeforeValidator(_all_when_blank)


@router.get("/")
def home(session: SignedIn) -> Response:
    """The first page the user's roles open: the worklist, or an administrator's agreements."""
    return see_other(session.home)


async def _referrals(api: Gateway, params: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while len(found) < LIST_CAP:
        page = await api.get("referral", "/v1/referrals", **params, cursor=cursor, limit=LIST_PAGE)
        found += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return found


@router.get("/demandes")
async def worklist(
    request: Request,
    session: SignedIn,
    api: Api,
    console: ConsoleDep,
    sens: Annotated[str, Query()] = "recues",
    statut: Annotated[ReferralStatus | None, AllWhenBlank, Query()] = None,
    service: Annotated[ServiceCode | None, AllWhenBlank, Query()] = None,
    urgence: Annotated[Urgency | None, AllWhenBlank, Query()] = None,
    page: Annotated[int, Query(ge=0, le=1000)] = 0,
) -> Response:
    """Referrals received or sent, filtered, the most pressing clock first."""
    requires(session, *READERS)
    direction = sens if sens in DIRECTIONS and (sens != "toutes" or session.audits) else "recues"
    side = DIRECTIONS[direction]
    params = {"status": statut.value if statut else None, **({side: session.org} if side else {})}
    matched = [
        r
        for r in await _referrals(api, params)
        if (service is None or r["to_service"] == service) and (urgence is None or r["urgency"] == urgence)
    ]
    matched.sort(key=lambda r: worklist_order(r, None))
    size = console.settings.worklist_size
    shown = matched[page * size : (page + 1) * size]
    clocks = await asyncio.gather(*(api.get("referral", f"/v1/referrals/{r['id']}/clocks") for r in shown))
    now = system_clock()
    rows = sorted(
        ((r, most_pressing(c, session.org, now)) for r, c in zip(shown, clocks, strict=True)),
        key=lambda row: worklist_order(*row),
    )
    return render(
        request,
        "worklist.html",
        rows=rows,
        total=len(matched),
        direction=direction,
        filters={"statut": statut, "service": service, "urgence": urgence},
        statuses=list(ReferralStatus),
        services=list(ServiceCode),
        urgencies=list(Urgency),
        page=page,
        has_next=(page + 1) * size < len(matched),
    )


@dataclass(frozen=True)
class OnReferral:
    """A request about one referral, by a signed-in user: what its page needs to be drawn again."""

    request: Request
    referral_id: uuid.UUID
    session: Session
    api: Gateway
    console: Console
    t: Translator

    async def context(self) -> dict[str, Any]:
        api, org = self.api, self.session.org
        referral, clocks, offered = await asyncio.gather(
            api.get("referral", f"/v1/referrals/{self.referral_id}"),
            api.get("referral", f"/v1/referrals/{self.referral_id}/clocks"),
            self.console.offered_paths(),
        )
        return {
            "referral": referral,
            "short": short_id(referral["id"]),
            "agreement": await self._agreement(referral.get("agreement_id")),
            "clocks": clocks,
            "pressing": most_pressing(clocks, org, system_clock()),
            "side": side_of(org, referral),
            "actions": allowed(referral, org, offered) if self.session.works_referrals else [],
            "categories": list(InfoCategory),
            "information_ended": referral["status"] in INFORMATION_ENDED,
            "purposes": list(Purpose),
            "grantor_roles": list(GrantorRole),
            "representatives": REPRESENTATIVES,
            "methods": list(ConsentMethod),
            "info": None,
            "info_error": None,
            "notice": None,
            "conflict": None,
            "action_errors": {},
            "consent_errors": FormErrors(),
            "consent_values": {
                "purposes": ["REFERRAL"],
                "granted_by.role": "SELF",
                "method": "WRITTEN",
                "disclosers": [referral["from_org"]],  # the referral's communication: from its sender
            },
            "form_key": str(uuid.uuid4()),
        }

    async def _agreement(self, agreement_id: str | None) -> dict[str, Any] | None:
        if not agreement_id:
            return None
        try:
            agreement: dict[str, Any] = await self.api.get("agreements", f"/v1/agreements/{agreement_id}")
        except ApiProblemError:
            return None
        return agreement

    async def page(self, status: int = 200, **extra: Any) -> Response:
        context = await self.context()
        context.update(extra)
        return render(self.request, "referral.html", status=status, **context)


def on_referral(
    request: Request, referral_id: uuid.UUID, session: SignedIn, api: Api, console: ConsoleDep, t: T
) -> OnReferral:
    return OnReferral(request, referral_id, session, api, console, t)


Here = Annotated[OnReferral, Depends(on_referral)]


@router.get("/demandes/{referral_id}")
async def referral_page(
    on: Here,
    fait: Annotated[str | None, Query()] = None,
    consentement: Annotated[uuid.UUID | None, Query()] = None,
    soumise: Annotated[str | None, Query()] = None,
) -> Response:
    """One referral: summary, timeline, clocks, possible actions, information, consent. After an action, a consent or
    the submission, says it was recorded: only what the services show, done by the user's organisation (a link
    naming anything shows nothing, as for an integrity acknowledgement)."""
    requires(on.session, *READERS)
    context = await on.context()
    context["notice"] = await _recorded(on, context["referral"], fait, consentement, soumise is not None)
    return render(on.request, "referral.html", **context)


async def _recorded(
    on: OnReferral, referral: dict[str, Any], fait: str | None, consent_id: uuid.UUID | None, submitted: bool
) -> str | None:
    """The confirmation a page shows after a form: the referral's last step is the action's, taken by the user's
    organisation; the consent service has the consent, recorded by it for this referral's person and receiver; the
    referral was sent by it and nothing happened since."""
    org, t = on.session.org, on.t
    action = BY_COMMAND.get(fait or "")
    if action is not None and taken_last(action, org, referral):
        return t.t("referral.done", action=t.t(f"action.{action.command}"))
    if consent_id is not None and await _consent_recorded(on.api, str(consent_id), org, referral):
        return t.t("consent.recorded", id=short_id(str(consent_id)))
    if submitted and referral["from_org"] == org and [m.get("step") for m in referral["history"]] == ["submitted"]:
        return t.t("new.submitted")
    return None


async def _consent_recorded(api: Gateway, consent_id: str, org: str, referral: dict[str, Any]) -> bool:
    try:
        consent: dict[str, Any] = await api.get("consent", f"/v1/consents/{consent_id}")
    except ApiProblemError:
        return False
    return (
        consent.get("recorded_by_org") == org
        and consent.get("subject_id") == referral["subject_id"]
        and any(r.get("org_id") == referral["to_org"] for r in consent.get("recipients", []))
    )


def _action_body(command: str, form: FormData, t: Translator) -> dict[str, Any]:
    action = BY_COMMAND[command]
    body: dict[str, Any] = {name.name: str(form.get(name.name, "")).strip() for name in action.inputs}
    try:
        at = local_to_instant(str(form.get("at", "")) or None, t.zone)
    except ValueError:
        raise FormValueError("at") from None
    if at is not None or action.at_required:
        body["at"] = at
    return body


@router.post("/demandes/{referral_id}/actions/{command}")
async def act(on: Here, command: str, form: Form) -> Response:
    """One lifecycle step, sent with If-Match: the version the worker saw. A 409 is explained, never overwritten."""
    requires(on.session, *WORKERS)
    if command not in BY_COMMAND:
        return await on.page(404)
    seen = rendered_value(form, "version", VERSION)
    try:
        await on.api.call(
            "referral",
            "POST",
            f"/v1/referrals/{on.referral_id}/{command}",
            json=_action_body(command, form, on.t),
            headers={"If-Match": seen},
        )
    except ApiProblemError as problem:
        if problem.status not in (409, 422):
            raise
        return await _refused_action(on, command, seen, problem)
    return see_other(f"/demandes/{on.referral_id}?fait={command}")


async def _refused_action(on: OnReferral, command: str, seen: str, problem: ApiProblemError) -> Response:
    t = on.t
    context = await on.context()
    referral = context["referral"]
    action = t.t(f"action.{command}")
    status = t.code("ReferralStatus", referral["status"])
    if problem.status == 422:
        context["action_errors"] = {command: FormErrors.of(problem, t)}
    elif problem.slug == "version-conflict" or str(referral["version"]) != seen:
        last = referral["history"][-1]
        context["conflict"] = t.t(
            "referral.conflict.body",
            action=action,
            yours=seen,
            theirs=referral["version"],
            status=status,
            step=t.code("Step", last["step"]),
            at=t.when(last["at"]),
        )
    else:
        context["conflict"] = t.t(
            "referral.impossible", action=action, status=status, reason=problem_message(t, problem)
        )
    return render(on.request, "referral.html", status=problem.status, **context)


@router.post("/demandes/{referral_id}/renseignements")
async def read_information(on: Here, form: Form) -> Response:
    """Asks for record information: the referral service asks the consent service and releases only what it
    permits (and registers the disclosure). A POST: every request is an act entered in the register."""
    requires(on.session, *WORKERS)
    wanted = [c for c in form.getlist("categories") if isinstance(c, str) and c in InfoCategory.__members__]
    if not wanted:
        return await on.page(422, info_error=on.t.t("info.no_category"))
    try:
        info = await on.api.get("referral", f"/v1/referrals/{on.referral_id}/information", categories=",".join(wanted))
    except ApiProblemError as problem:
        return await on.page(problem.status, info=_refusal(problem, on.t))
    if info["decision_id"] is None:  # the referral holds none of them: nothing was asked, nothing registered
        return await on.page(info={"outcome": "NONE", "explanation": on.t.t("info.none")})
    info["outcome"] = "PERMIT_PARTIAL" if info["denied_categories"] else "PERMIT"
    info["explanation"] = await _explanation(on.api, info, on.t) if info["denied_categories"] else None
    return await on.page(info=info)


def _refusal(problem: ApiProblemError, t: Translator) -> dict[str, Any]:
    if problem.slug == "referral-ended":  # refused, cancelled or closed since the page was drawn
        status = t.code("ReferralStatus", problem.body.get("referral_status"))
        return {"outcome": "ENDED", "explanation": t.t("info.ended", status=status)}
    if problem.slug == "disclosure-denied":
        return {
            "outcome": "DENY",
            "explanation": problem.detail,
            "denied_categories": problem.body.get("denied_categories", []),
            "decision_id": problem.body.get("decision_id"),
        }
    if problem.status == 410:
        return {"outcome": "ERASED", "explanation": t.t("info.erased")}
    if problem.status == 403:
        return {"outcome": "FORBIDDEN", "explanation": t.t("info.receiver_only")}
    raise problem


async def _explanation(api: Gateway, info: dict[str, Any], t: Translator) -> str | None:
    """Why some categories were not released, in the user's language: each decision that denied some, as the consent
    service explains it (under a service agreement, the clause's decision for its categories and that of the person's
    consent to the referral for the others), then the categories the consent service gave no decision on."""
    reasons: list[str] = []
    for decision in info["decisions"]:
        if decision["denied_categories"]:
            try:
                explained = await api.get("consent", f"/v1/decisions/{decision['decision_id']}")
            except ApiProblemError:
                continue
            reasons.append(explained.get("explanation") or "")
    undecided = info.get("undecided")
    if undecided:
        categories = ", ".join(t.code("InfoCategory", c) for c in undecided["categories"])
        reasons.append(t.t("info.undecided", categories=categories))
    return " ".join(reason for reason in reasons if reason) or None


@router.post("/demandes/{referral_id}/consentements")
async def record_consent(on: Here, form: Form) -> Response:
    """Records the person's consent to the disclosure of the chosen categories to the receiving organisation."""
    requires(on.session, *WORKERS)
    referral = await on.api.get("referral", f"/v1/referrals/{on.referral_id}")
    values = form_values(form, multi=("purposes", "categories", "granted_by.scope", "disclosers"))
    body = {
        "subject_id": referral["subject_id"],
        "subject_birth_date": values.get("subject_birth_date") or None,
        "granted_by": _grantor(values),
        "method": values.get("method"),
        "purposes": values.get("purposes", []),
        "recipients": [{"org_id": referral["to_org"]}],
        "categories": values.get("categories", []),
        "valid_from": system_clock().isoformat(),
        "valid_until": values.get("valid_until") or None,
        "disclosers": values.get("disclosers", []),
    }
    try:
        consent = await on.api.post("consent", "/v1/consents", body, headers=idempotency(form))
    except ApiProblemError as problem:
        if problem.status != 422:
            raise
        errors = FormErrors.of(problem, on.t)
        if errors.fields.pop("valid_from", None):  # the console sets the start (now): it is the birth date's fault
            errors.fields.setdefault("subject_birth_date", on.t.t("invalid.subject_birth_date.validation"))
        if "scope" in body["granted_by"] and not body["granted_by"]["scope"]:
            # the consent service checks the mandate only once the request is well formed: say it now, with the rest
            errors.fields.setdefault("granted_by.scope", on.t.t("invalid.granted_by.scope.validation"))
        return await on.page(422, consent_errors=errors, consent_values=values)
    return see_other(f"/demandes/{on.referral_id}?consentement={consent['id']}")


def _grantor(values: dict[str, Any]) -> dict[str, Any]:
    """Who gave the consent; a representative's mandate (the purposes it covers, its reference) only with a
    representative's role: boxes left checked under another role (the field hidden by then) are not sent."""
    role = values.get("granted_by.role")
    if role not in REPRESENTATIVES:
        return {"role": role}
    return {
        "role": role,
        "scope": values.get("granted_by.scope") or None,
        "mandate_ref": values.get("granted_by.mandate_ref") or None,
    }
