"""Agents of the notifications service: decode, call one application method."""

from __future__ import annotations

from services.common.consumer import DeadLetterSink, RecordProcessor, TrackingConsumer
from services.common.kafka import KafkaPublisher
from services.contract import topics
from services.notifications.application import Notifications
from services.notifications.settings import NotificationsSettings


def referral_events_consumer(
    settings: NotificationsSettings, notifications: Notifications, publisher: KafkaPublisher
) -> TrackingConsumer:
    processor = RecordProcessor(
        app=notifications,
        handler=notifications.route_referral_event,
        dead_letters=DeadLetterSink(publisher.send_raw),
        group=settings.consumer_group,
    )
    brokers, group = settings.kafka_access, settings.consumer_group
    return TrackingConsumer(brokers, group, [topics.REFERRAL], processor)
