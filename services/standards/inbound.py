"""Records of the topics the board reads -> what its tables keep (decode the envelope here, nowhere else).

A record that is not a valid CloudEvent, or whose payload does not match its type's schema, is poison: it goes to
`<topic>.dlq` with the reason (field names and rules, never values) and processing goes on. So is a record whose
times the board reads have no UTC offset or fall outside [EARLIEST, LATEST): the schemas let a naive `occurred_at`
through, and a time near the ends of `datetime`'s range overflows once moved to the board's zone or past a bound.
Event types the board does not measure are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from services.common.declared import invalid_data, names_declared_by
from services.common.envelope import CloudEvent, EnvelopeError, derived_id, schema_uri
from services.contract.events import EVENT_TYPES
from services.contract.hours_standards import HOURS_STANDARDS, counted_from
from services.contract.infosocial_events import InfoSocialCallV1
from services.standards.calls import TIMES, CallRecord
from services.standards.domain import StandardsError
from services.standards.hours import ScheduleRecord, hours_key
from services.standards.referrals import StepRecord, step_record

REFERRAL_PREFIX = "ca.qc.rls.referral."
SERVICE_HOURS = "ca.qc.rls.agreements.service-hours-set.v1"
ORGANISATION_REGISTERED = "ca.qc.rls.agreements.organisation-registered.v1"
CALL_REPORTED = "ca.qc.rls.infosocial.call-reported.v1"
NOT_STEPS = frozenset({"delay-at-risk"})
"""Referral events that move no standard (a `delay-breached` does: it dates the breach of a clock still running)."""
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""The times the board accepts are in [EARLIEST, LATEST)."""


class PoisonRecordError(StandardsError, ValueError):
    """A record the board can never use; the message names what is wrong, never a value."""


@dataclass(frozen=True)
class ReferralStep:
    referral_id: str
    event_id: str
    step: StepRecord


@dataclass(frozen=True)
class CallReport:
    call: CallRecord


@dataclass(frozen=True)
class ScheduleDeclared:
    key: str
    effective_from: str
    """The day the schedule counts from as recorded (`counted_from`: never before the day it was declared), which
    keys it in the `schedules` table: a back-dated schedule does not replace the one declared for its date."""
    schedule: ScheduleRecord


@dataclass(frozen=True)
class ServiceOffered:
    """An organisation registered in the directory offering a service with hours standards, since `registered_at`."""

    key: str
    org_id: str
    service: str
    registered_at: str


Headers = Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None


def _event(headers: Headers, value: bytes | None) -> CloudEvent:
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
    try:
        return CloudEvent.from_kafka(pairs, value)
    except EnvelopeError as error:
        raise PoisonRecordError(str(error)) from None


def _payload(event: CloudEvent, times: tuple[str, ...]) -> dict[str, Any]:
    """The event's data validated against its type's schema, as JSON; `times` are the fields the board reads as
    instants. A refusal names the schema's fields only: another key (an unknown member) is the producer's text."""
    schema = EVENT_TYPES[event.type]
    try:
        data = schema.model_validate(event.data)
    except ValidationError as error:
        raise PoisonRecordError(invalid_data(error, names_declared_by(schema))) from None
    for name in times:
        at = getattr(data, name, None)
        if not isinstance(at, datetime):
            continue
        if at.utcoffset() is None:
            raise PoisonRecordError(f"invalid data: {name} (timezone_aware)")
        if not EARLIEST <= at < LATEST:
            raise PoisonRecordError(f"invalid data: {name} (out_of_range: {EARLIEST:%Y} to {LATEST.year - 1} UTC)")
    return data.model_dump(mode="json")


def referral_step(headers: Headers, value: bytes | None) -> ReferralStep | None:
    """The step a `rls.referral.v1` record adds to a referral's history (None: not one the board measures)."""
    event = _event(headers, value)
    if not event.type.startswith(REFERRAL_PREFIX) or event.type not in EVENT_TYPES:
        return None
    name = event.type[len(REFERRAL_PREFIX) :].rsplit(".", 1)[0]
    if name in NOT_STEPS:
        return None
    data = _payload(event, ("occurred_at",))
    return ReferralStep(data["referral_id"], event.id, step_record(name, data))


def call_report(key: bytes | None, headers: Headers, value: bytes | None) -> CallReport | None:
    """The call a `rls.infosocial.calls.v1` record reports; its key must be the call's region."""
    event = _event(headers, value)
    if event.type != CALL_REPORTED:
        return None
    data = _payload(event, TIMES)
    if key is None or key.decode(errors="replace") != data["region"]:
        raise PoisonRecordError("key: must be the call's region")
    return CallReport(data)


def schedule_declared(headers: Headers, value: bytes | None) -> ScheduleDeclared | None:
    """A service's schedule from a `rls.agreements.v1` record (None for the directory's other events)."""
    found = directory_record(headers, value)
    return found if isinstance(found, ScheduleDeclared) else None


def directory_record(headers: Headers, value: bytes | None) -> ScheduleDeclared | list[ServiceOffered] | None:
    """What a `rls.agreements.v1` record tells the board: a service's schedule (`service-hours-set`), or the services
    with hours standards an organisation offers from its registration (`organisation-registered`); None for the
    directory's other events."""
    event = _event(headers, value)
    if event.type == SERVICE_HOURS:
        data = _payload(event, ("occurred_at",))
        return ScheduleDeclared(hours_key(data["org_id"], data["service"]), counted_from(data).isoformat(), data)
    if event.type == ORGANISATION_REGISTERED:
        data = _payload(event, ("occurred_at",))
        org = data["org_id"]
        return [
            ServiceOffered(hours_key(org, service), org, service, data["occurred_at"])
            for service in sorted(set(data["services"]) & set(HOURS_STANDARDS))
        ]
    return None


def call_event(call: InfoSocialCallV1, source: str) -> CloudEvent:
    """A call report as the CloudEvent the board reads (its id is the report's: the same report twice, one id)."""
    data = call.model_dump(mode="json")
    canonical = "|".join(f"{k}={data[k]}" for k in sorted(data))
    return CloudEvent(
        id=derived_id("infosocial-call", call.call_id, canonical),
        source=source,
        type=CALL_REPORTED,
        time=call.offered_at,
        subject=call.call_id,
        dataschema=schema_uri(CALL_REPORTED),
        data=data,
    )
