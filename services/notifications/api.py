"""Notifications service REST API (v1): subscriptions, their deliveries, redelivery; establishments' Kafka credentials
(issued, rotated and revoked by each organisation's administrator)."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response

from services.common.auth import Principal
from services.common.cursors import CURSOR_DESCRIPTION, CURSOR_PATTERN, CursorInvalidError, ListCursors
from services.common.preconditions import IfMatch, if_match_version
from services.common.problems import (
    DEPENDENCY_UNAVAILABLE,
    FORBIDDEN,
    IDEMPOTENCY_KEY_REUSED,
    VALIDATION,
    VERSION_CONFLICT,
    ProblemSpec,
    invalid_field,
    problem,
)
from services.common.service import from_state
from services.notifications.access import POLICY
from services.notifications.api_models import (
    DeliveryPublic,
    KafkaCredentialsCreate,
    KafkaCredentialsPublic,
    SecretRotationCreate,
    SubscriptionCreate,
    SubscriptionPage,
    SubscriptionPublic,
)
from services.notifications.application import Notifications
from services.notifications.credentials import CredentialsIssuer
from services.notifications.domain import (
    ChangedMeanwhileError,
    DeliveryNotFoundError,
    DeliveryStatus,
    KafkaCredentialsBrokerError,
    KafkaCredentialsNotFoundError,
    KafkaCredentialsUnavailableError,
    SubscriptionExistsError,
    SubscriptionIdempotencyConflictError,
    SubscriptionInvalidError,
    SubscriptionLimitReachedError,
    SubscriptionLookupBusyError,
    SubscriptionNotFoundError,
    SubscriptionVersionConflictError,
    SubscriptionWithoutSecretError,
)
from services.notifications.views import SubscriptionEntry

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1")

DOMAIN_ERRORS: dict[type[Exception], ProblemSpec] = {
    SubscriptionNotFoundError: ProblemSpec(404, "subscription-not-found", "Subscription not found"),
    DeliveryNotFoundError: ProblemSpec(404, "delivery-not-found", "Delivery not found"),
    SubscriptionInvalidError: VALIDATION,
    SubscriptionLookupBusyError: DEPENDENCY_UNAVAILABLE,
    SubscriptionExistsError: ProblemSpec(
        409, "subscription-exists", "The organisation already subscribes to its topic"
    ),
    SubscriptionLimitReachedError: ProblemSpec(
        409, "subscription-limit-reached", "The organisation's subscriptions are at their limit"
    ),
    SubscriptionIdempotencyConflictError: IDEMPOTENCY_KEY_REUSED,
    SubscriptionVersionConflictError: VERSION_CONFLICT,
    ChangedMeanwhileError: VERSION_CONFLICT,
    SubscriptionWithoutSecretError: ProblemSpec(409, "subscription-without-secret", "The subscription has no secret"),
    KafkaCredentialsUnavailableError: ProblemSpec(409, "kafka-credentials-unavailable", "No Kafka credentials here"),
    KafkaCredentialsNotFoundError: ProblemSpec(404, "kafka-credentials-not-found", "No such Kafka credentials"),
    KafkaCredentialsBrokerError: DEPENDENCY_UNAVAILABLE,
    CursorInvalidError: VALIDATION,
}

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such subscription for the organisation"}}


App = Annotated[Notifications, Depends(from_state("application"))]
Manager = Annotated[Principal, Depends(POLICY.caller("subscribe"))]
SubscriptionCursors = Annotated[ListCursors, Depends(from_state("subscription_cursors"))]
DeliveryCursors = Annotated[ListCursors, Depends(from_state("delivery_cursors"))]
Cursor = Annotated[str | None, Query(pattern=CURSOR_PATTERN, description=CURSOR_DESCRIPTION)]
Limit = Annotated[int, Query(ge=1, le=500)]


def version_of(if_match: str | None) -> int | None:
    return if_match_version(if_match, "must be the subscription's version (its ETag)")


def own_org(principal: Principal, org_id: str | None) -> str:
    if org_id is not None:
        POLICY.check("subscribe", principal, {"owner": org_id}, "an organisation manages only its own subscriptions")
    return principal.org


def subscription_response(
    entry: SubscriptionEntry, response: Response, secret: str | None = None
) -> SubscriptionPublic:
    """The subscription with its headers; an answer telling a secret (a creation's or a rotation's, first told or
    replayed) is never stored by a cache on the way (`Cache-Control: no-store`)."""
    response.headers["ETag"] = str(entry.version)
    response.headers["Location"] = f"/v1/subscriptions/{entry.id}"
    if secret is not None:
        response.headers["Cache-Control"] = "no-store"
    return SubscriptionPublic.of(entry, secret)


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionPublic,
    response_model_exclude_none=True,
    tags=["subscriptions"],
    responses={
        403: {"description": "org_id is not the caller's organisation"},
        404: {"description": "The subscription this Idempotency-Key created was deleted since"},
        409: {
            "description": "The organisation's topic subscription exists, its subscriptions are at their limit "
            "(NOTIFICATIONS_MAX_SUBSCRIPTIONS_PER_ORG), or Idempotency-Key reused"
        },
        503: {
            "description": "No lookup thread is free to resolve the webhook's host for the organisation (its earlier "
            "lookups all still unanswered): dependency-unavailable"
        },
    },
)
def subscribe(
    body: SubscriptionCreate,
    response: Response,
    principal: Manager,
    notifications: App,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> SubscriptionPublic:
    """Subscribe the caller's organisation to the referral events concerning it, on its topic or at a webhook."""
    own_org(principal, body.org_id)
    try:
        subscribed = notifications.subscribe(body.request(), principal.sub, idempotency_key)
    except SubscriptionInvalidError as error:
        raise invalid_field(error.field, str(error)) from None
    if not subscribed.created:
        response.headers["Idempotent-Replayed"] = "true"
    return subscription_response(subscribed.subscription, response, subscribed.generated_secret)


@router.get("/subscriptions", response_model=SubscriptionPage, response_model_exclude_none=True, tags=["subscriptions"])
def list_subscriptions(
    principal: Manager,
    notifications: App,
    cursors: SubscriptionCursors,
    org_id: Annotated[str | None, Query(max_length=64, description="The caller's organisation (default)")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> SubscriptionPage:
    """The organisation's subscriptions (not the deleted ones), oldest first."""
    # a cursor seals the position (seq, a notification id, never 0) of the last subscription listed: in the clear,
    # positions shared by every organisation would count the others' events; one more than the page tells whether
    # another follows
    listed = own_org(principal, org_id)
    bound = (principal.org, listed)
    after = cursors.open(cursor, bound) if cursor is not None else 0
    found = notifications.list_subscriptions(listed, after, limit + 1)
    items = found[:limit]
    next_cursor = cursors.seal(items[-1].seq, bound) if len(found) > limit else None
    return SubscriptionPage(items=[SubscriptionPublic.of(s) for s in items], next_cursor=next_cursor)


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionPublic,
    response_model_exclude_none=True,
    tags=["subscriptions"],
    responses=NOT_FOUND,
)
def get_subscription(
    subscription_id: uuid.UUID, response: Response, principal: Manager, notifications: App
) -> SubscriptionPublic:
    """One subscription of the caller's organisation."""
    return subscription_response(notifications.get_subscription(principal.org, subscription_id), response)


@router.post(
    "/subscriptions/{subscription_id}/pause",
    response_model=SubscriptionPublic,
    response_model_exclude_none=True,
    tags=["subscriptions"],
    responses=NOT_FOUND,
)
def pause(
    subscription_id: uuid.UUID, response: Response, principal: Manager, notifications: App, if_match: IfMatch = None
) -> SubscriptionPublic:
    """Stop sending; events keep being recorded as pending deliveries and go out on resume."""
    entry = notifications.pause(principal.org, subscription_id, principal.sub, version_of(if_match))
    return subscription_response(entry, response)


@router.post(
    "/subscriptions/{subscription_id}/resume",
    response_model=SubscriptionPublic,
    response_model_exclude_none=True,
    tags=["subscriptions"],
    responses=NOT_FOUND,
)
def resume(
    subscription_id: uuid.UUID, response: Response, principal: Manager, notifications: App, if_match: IfMatch = None
) -> SubscriptionPublic:
    """Send again (also re-enables a subscription disabled because its receiver answered 410)."""
    entry = notifications.resume(principal.org, subscription_id, principal.sub, version_of(if_match))
    return subscription_response(entry, response)


@router.post(
    "/subscriptions/{subscription_id}/rotate-secret",
    response_model=SubscriptionPublic,
    response_model_exclude_none=True,
    tags=["subscriptions"],
    responses={
        **NOT_FOUND,
        409: {
            "description": "A topic subscription (no secret), If-Match stale, Idempotency-Key reused, or the "
            "subscription kept changing while rotated (ask again)"
        },
    },
)
def rotate_secret(
    subscription_id: uuid.UUID,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("rotate_secret"))],
    notifications: App,
    body: Annotated[SecretRotationCreate | None, Body()] = None,
    if_match: IfMatch = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> SubscriptionPublic:
    """Replace the webhook's signing secret; the one replaced still signs, beside it, for `previous_valid_for_s`."""
    rotation = (body or SecretRotationCreate()).rotation()
    try:
        rotated = notifications.rotate_secret(
            principal.org, subscription_id, rotation, principal.sub, version_of(if_match), idempotency_key
        )
    except SubscriptionInvalidError as error:
        raise invalid_field(error.field, str(error)) from None
    if rotated.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return subscription_response(rotated.subscription, response, rotated.generated_secret)


@router.delete("/subscriptions/{subscription_id}", status_code=204, tags=["subscriptions"], responses=NOT_FOUND)
def unsubscribe(
    subscription_id: uuid.UUID, principal: Manager, notifications: App, if_match: IfMatch = None
) -> Response:
    """Delete the subscription; its pending deliveries are dropped."""
    notifications.unsubscribe(principal.org, subscription_id, principal.sub, version_of(if_match))
    return Response(status_code=204)


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    response_model=list[DeliveryPublic],
    response_model_exclude_none=True,
    tags=["deliveries"],
    responses=NOT_FOUND,
)
def list_deliveries(
    subscription_id: uuid.UUID,
    response: Response,
    principal: Manager,
    notifications: App,
    cursors: DeliveryCursors,
    status: DeliveryStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> list[DeliveryPublic]:
    """The subscription's deliveries in the order they were scheduled, with their attempts and status
    (more pages: a `Link: <…>; rel="next"` header)."""
    # the cursor seals the position of the last delivery listed, bound to the organisation and the filters
    bound = (principal.org, str(subscription_id), status.value if status else None)
    after = cursors.open(cursor, bound) if cursor is not None else 0
    found = notifications.list_deliveries(principal.org, subscription_id, status, after, limit + 1)
    items = found[:limit]
    if len(found) > limit:
        sealed = cursors.seal(items[-1].seq, bound)
        query = f"cursor={sealed}&limit={limit}" + (f"&status={status.value}" if status else "")
        response.headers["Link"] = f'</v1/subscriptions/{subscription_id}/deliveries?{query}>; rel="next"'
    return [DeliveryPublic.of(d) for d in items]


@router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryPublic,
    response_model_exclude_none=True,
    tags=["deliveries"],
    responses={404: {"description": "No such delivery for the organisation"}},
)
def get_delivery(delivery_id: uuid.UUID, principal: Manager, notifications: App) -> DeliveryPublic:
    """One delivery of the caller's organisation."""
    return DeliveryPublic.of(notifications.get_delivery(principal.org, delivery_id))


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryPublic,
    response_model_exclude_none=True,
    tags=["deliveries"],
    responses={
        404: {"description": "No such delivery for the organisation"},
        409: {"description": "The delivery kept changing while being redelivered (its attempts); ask again"},
    },
)
def redeliver(delivery_id: uuid.UUID, principal: Manager, notifications: App) -> DeliveryPublic:
    """Send the event again (same webhook-id, fresh retry window), after the earlier pending events of its referral."""
    return DeliveryPublic.of(notifications.redeliver(principal.org, delivery_id, principal.sub))


# --- Kafka credentials of establishments -------------------------------------------------------------------


Issuer = Annotated[CredentialsIssuer, Depends(from_state("credentials_issuer"))]
NOT_ITS_ADMIN: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not the caller's organisation, or not its administrator"}
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    409: {"description": "The broker authenticates nobody (development platform): no credentials to issue"},
    503: {"description": "Kafka could not be reached or refused the change"},
}


def own_credentials(operation: str, principal: Principal, org_id: str | None) -> str:
    if org_id is None:
        raise problem(FORBIDDEN, "an organisation manages only its own Kafka credentials")
    POLICY.check(operation, principal, {"owner": org_id}, "an organisation manages only its own Kafka credentials")
    return org_id


@router.post(
    "/kafka-credentials",
    status_code=201,
    tags=["kafka-credentials"],
    response_model=KafkaCredentialsPublic,
    response_model_exclude_none=True,
    responses={**NOT_ITS_ADMIN, **UNAVAILABLE},
)
def issue_credentials(
    body: KafkaCredentialsCreate,
    response: Response,
    principal: Annotated[Principal, Depends(POLICY.caller("issue_credentials"))],
    issuer: Issuer,
) -> KafkaCredentialsPublic:
    """Create the organisation's Kafka user, or rotate its password (the old one stops working, nothing restarts):
    it reads only `rls.org.<org_id>.*` in consumer groups `rls.org.<org_id>.*`."""
    org_id = own_credentials("issue_credentials", principal, body.org_id)
    issued = issuer.issue(org_id)
    log.info("Kafka credentials of %s issued by %s of %s", issued.username, principal.sub, principal.org)
    response.headers["Cache-Control"] = "no-store"
    return KafkaCredentialsPublic.of(issued)


@router.delete(
    "/kafka-credentials/{username}",
    status_code=204,
    tags=["kafka-credentials"],
    responses={**NOT_ITS_ADMIN, **UNAVAILABLE, 404: {"description": "The organisation has no Kafka credentials"}},
)
def revoke_credentials(
    username: Annotated[str, Path(max_length=100, description="`org-<org_id>` of the caller's organisation")],
    principal: Annotated[Principal, Depends(POLICY.caller("revoke_credentials"))],
    issuer: Issuer,
) -> Response:
    """Revoke the organisation's Kafka user: its password and every ACL it had are removed."""
    org_id = own_credentials("revoke_credentials", principal, issuer.organisation_of(username))
    issuer.revoke(org_id)
    log.info("Kafka credentials of %s revoked by %s of %s", username, principal.sub, principal.org)
    return Response(status_code=204)
