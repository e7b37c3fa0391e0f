"""What leaves the notifications service, and how: the events partners receive (the anti-corruption layer), on their
own topic or at their webhook.

What leaves is the upstream event with its `data` reduced to the fields the public contract declares for that type
(`services/contract/referral_events.py`): ids, codes, statuses, times and the link to the information endpoint. A field
the contract does not declare (record information added upstream by mistake, say) is dropped, never forwarded.
Webhooks are POSTed as structured-mode CloudEvents signed in the Standard Webhooks style; topics get binary mode.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import httpx
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from services.common.clock import Clock
from services.common.egress import EgressBusyError, EgressRefusedError, for_tenant
from services.common.envelope import CloudEvent
from services.common.kafka import Outgoing
from services.common.relay import Publisher
from services.common.tracing import span, trace_headers
from services.contract.referral_events import EVENTS
from services.contract.topics import org_referrals
from services.notifications.application import AttemptOutcome, Notifications
from services.notifications.signing import webhook_headers
from services.notifications.views import DeliveryEntry, DueBatch, SubscriptionEntry

MAX_ANSWER_BYTES = 4096
"""How much of a receiver's answer is read: its status decides, the start of the body only lets a short answer
leave its connection reusable (a large one is never held in memory)."""

_FIELDS_BY_TYPE = {type_: frozenset(model.model_fields) for type_, model in EVENTS.items()}
_ANY_REFERRAL_FIELDS = frozenset().union(*_FIELDS_BY_TYPE.values())


def outgoing_event(event: CloudEvent) -> dict[str, Any]:
    """The CloudEvent partners receive (same id, type, source and times), as a JSON document."""
    allowed = _FIELDS_BY_TYPE.get(event.type, _ANY_REFERRAL_FIELDS)
    data = {name: value for name, value in event.data.items() if name in allowed}
    return event.model_copy(update={"data": data}).model_dump(mode="json", exclude_none=True)


def partner_event(document: dict[str, Any]) -> CloudEvent:
    """The CloudEvent a delivery carries, from the document its dispatch recorded."""
    return CloudEvent.model_validate(document)


class WebhookTransport:
    """POSTs one structured-mode CloudEvent, signed in the Standard Webhooks style."""

    def __init__(self, client: httpx.Client, clock: Clock) -> None:
        self._client = client
        self._clock = clock

    def attempt(self, notifications: Notifications, batch: DueBatch) -> list[AttemptOutcome]:
        subscription, delivery = batch.subscription, batch.deliveries[0]
        if subscription.url is None or subscription.secret is None:
            return [AttemptOutcome(delivery.id, delivered=False, error="the subscription has no url or secret")]
        try:
            event = partner_event(notifications.event_of(delivery))
        except (LookupError, ValidationError) as error:
            return [AttemptOutcome(delivery.id, delivered=False, error=f"unreadable event ({type(error).__name__})")]
        with span("webhook", event.traceparent, SpanKind.CLIENT, {"http.request.method": "POST"}) as sent:
            outcome = self._post(subscription.url, subscription, delivery.id, event.to_structured())
            sent.set_attribute("rls.delivered", outcome.delivered)
            return [outcome]

    def _post(self, url: str, subscription: SubscriptionEntry, delivery_id: uuid.UUID, body: bytes) -> AttemptOutcome:
        """One signed POST (`webhook-id`: the delivery's id), continuing the event's trace (`traceparent` header);
        signed with the subscription's secrets valid now (after a rotation, also the one it replaced during its
        grace period: one request whichever secret the receiver holds). The outcome tells how long the POST waited
        for a name lookup thread (`AttemptOutcome.queued`)."""
        now = self._clock()
        signed = webhook_headers(subscription.signing_secrets(now), str(delivery_id), int(now.timestamp()), body)
        with for_tenant(subscription.org_id) as tenant:
            outcome = self._send(url, delivery_id, body, {**signed, **trace_headers()})
        return replace(outcome, queued=tenant.queued)

    def _send(self, url: str, delivery_id: uuid.UUID, body: bytes, headers: dict[str, str]) -> AttemptOutcome:
        try:
            with self._client.stream("POST", url, content=body, headers=headers) as response:
                status = response.status_code
                _skim(response)
        except EgressBusyError as error:  # no lookup thread was the organisation's to take: its turn comes later
            return AttemptOutcome(delivery_id, delivered=False, error=str(error), deferred=True)
        except EgressRefusedError as error:  # the target is no longer a public address (DNS changed, say)
            return AttemptOutcome(delivery_id, delivered=False, error=f"refused: {error}")
        except Exception as error:  # noqa: BLE001 -- a transport error, or a URL the client refuses (httpx.InvalidURL,
            # idna's ValueErrors: no HTTPError), is a failed attempt: recorded, retried, then dead-lettered
            return AttemptOutcome(delivery_id, delivered=False, error=type(error).__name__)
        if 200 <= status < 300:
            return AttemptOutcome(delivery_id, delivered=True)
        return AttemptOutcome(delivery_id, delivered=False, error=f"HTTP {status}", gone=status == 410)


def _skim(response: httpx.Response) -> None:
    """Reads at most `MAX_ANSWER_BYTES` of the answer; one that stalls or breaks after its status changes nothing
    (the status was received: a 2xx is a delivery)."""
    read = 0
    try:
        for chunk in response.iter_raw():
            read += len(chunk)
            if read >= MAX_ANSWER_BYTES:
                return
    except httpx.HTTPError:
        return


class TopicTransport:
    """Publishes the due events of the organisations' topics in one acknowledged batch, in order per referral."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher

    def attempt(self, notifications: Notifications, batches: Sequence[DueBatch]) -> list[AttemptOutcome]:
        messages: list[Outgoing] = []
        sent: list[DeliveryEntry] = []
        unreadable: list[AttemptOutcome] = []
        for batch in batches:
            topic = org_referrals(batch.subscription.org_id)
            for delivery in batch.deliveries:
                try:
                    messages.append(
                        Outgoing(topic, delivery.referral_id, partner_event(notifications.event_of(delivery)))
                    )
                except (LookupError, ValidationError) as error:
                    # the later events of this referral wait: order per referral holds
                    unreadable.append(AttemptOutcome(delivery.id, False, f"unreadable event ({type(error).__name__})"))
                    break
                sent.append(delivery)
        try:
            if messages:
                self._publisher.publish(messages)
        except Exception as error:  # noqa: BLE001 -- any failure to publish is a failed attempt, retried later
            return unreadable + [AttemptOutcome(d.id, delivered=False, error=type(error).__name__) for d in sent]
        return unreadable + [AttemptOutcome(d.id, delivered=True) for d in sent]
