"""Agents of the consent service: decode, call one application method."""

from __future__ import annotations

from services.common.consumer import DeadLetterSink, RecordProcessor, TrackingConsumer
from services.common.kafka import KafkaPublisher
from services.consent.application import Consents
from services.consent.settings import ConsentSettings
from services.contract import topics


def agreements_consumer(settings: ConsentSettings, consents: Consents, publisher: KafkaPublisher) -> TrackingConsumer:
    """Feeds organisations and agreement states from `rls.agreements.v1` into the decision engine's read model."""
    processor = RecordProcessor(
        app=consents,
        handler=consents.observe_agreements_event,
        dead_letters=DeadLetterSink(publisher.send_raw),
        group=settings.consumer_group,
    )
    return TrackingConsumer(settings.kafka_access, settings.consumer_group, [topics.AGREEMENTS], processor)
