"""Consumed integration events -> one application command each (the envelope is decoded here, nowhere else): the
organisations and agreement states of `rls.agreements.v1`, for the decision engine's facts. The commands' inputs read
only the fields the engine needs (a new optional field upstream changes nothing); a record missing one is poison
(pydantic's ValidationError: the consumer dead-letters it)."""

from __future__ import annotations

from eventsourcing.persistence import Tracking

from services.common.consumer import Handler
from services.common.declared import names_declared_by
from services.common.envelope import CloudEvent
from services.consent.application import AgreementState, Consents, OrganisationRegistered
from services.contract.agreements_events import AGREEMENT_LIFECYCLE

ORGANISATION_REGISTERED = "ca.qc.rls.agreements.organisation-registered.v1"
AGREEMENT_STATES = frozenset(f"ca.qc.rls.agreements.{name}.v1" for name in AGREEMENT_LIFECYCLE)
DECLARED = names_declared_by(OrganisationRegistered, AgreementState)
"""The names of the models `handler` validates records against: the keys of a record its dead-letter reason may
show (any other is `<key>`)."""


def handler(consents: Consents) -> Handler:
    """Organisations and agreement states are observed once in effect; other types are only tracked."""

    def handle(event: CloudEvent, tracking: Tracking) -> None:
        if event.type == ORGANISATION_REGISTERED:
            consents.observe_organisation(event.id, OrganisationRegistered.model_validate(event.data), tracking)
        elif event.type in AGREEMENT_STATES:
            consents.observe_agreement(event.id, event.type, AgreementState.model_validate(event.data), tracking)
        else:
            consents.mark_processed(tracking)

    return handle
