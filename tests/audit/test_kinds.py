"""Every event type of the topics the audit replays is filed under what it is about, by a field its payload has:
`service-hours-set` fell back to the agreements' entry (`agreement_id`), and every one was rejected."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from services.audit.views import classify
from services.contract import agreements_events, audit_events, consent_events, referral_events

REPLAYED = {
    type_: model
    for contract in (referral_events, agreements_events, consent_events, audit_events)
    for type_, model in contract.EVENTS.items()
}


@pytest.mark.parametrize("type_", sorted(REPLAYED))
def test_each_type_is_filed_by_a_field_its_payload_has(type_: str) -> None:
    kind, id_field = classify(type_)
    model: type[BaseModel] = REPLAYED[type_]
    assert kind is not None and id_field in model.model_fields, (kind, id_field)
