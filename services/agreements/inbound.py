"""Consumed integration events -> one application command each (the envelope is decoded here, nowhere else):
accepted referrals (`rls.referral.v1`) count against volumes."""

from __future__ import annotations

from datetime import datetime

from eventsourcing.persistence import Tracking
from pydantic import BaseModel, ConfigDict

from services.agreements.application import AcceptedReferral, Agreements
from services.agreements.domain import AgreementNotFoundError
from services.common.consumer import Handler, PoisonMessageError
from services.common.declared import names_declared_by
from services.common.envelope import CloudEvent, event_type
from services.contract.codes import ServiceCode

ACCEPTED = event_type("referral", "accepted")


class AcceptedReferralV1(BaseModel):
    """The fields of `ca.qc.rls.referral.accepted.v1` (ReferralEventV1) that volume counting reads."""

    model_config = ConfigDict(extra="ignore")

    referral_id: str
    from_org: str
    to_org: str
    to_service: ServiceCode
    agreement_id: str | None = None
    occurred_at: datetime

    def accepted(self) -> AcceptedReferral:
        return AcceptedReferral(
            referral_id=self.referral_id,
            from_org=self.from_org,
            to_org=self.to_org,
            to_service=self.to_service.value,
            agreement_id=self.agreement_id,
            occurred_at=self.occurred_at,
        )


DECLARED = names_declared_by(AcceptedReferralV1)
"""The names of the models `handler` validates records against: the keys of a record its dead-letter reason may
show (any other is `<key>`)."""


def handler(agreements: Agreements) -> Handler:
    """Counts accepted referrals against volumes; other referral events are only tracked."""

    def handle(event: CloudEvent, tracking: Tracking) -> None:
        if event.type != ACCEPTED:
            return
        referral = AcceptedReferralV1.model_validate(event.data)
        try:
            agreements.count_accepted_referral(referral.accepted(), tracking)
        except AgreementNotFoundError as error:
            raise PoisonMessageError("the referral names an unknown agreement") from error

    return handle
