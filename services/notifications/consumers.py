"""Agents of the notifications service: decode, call one application method."""

from __future__ import annotations

import threading

from kafka import KafkaConsumer

from services.common.consumer import DeadLetterSink, RecordProcessor, TrackingConsumer, _SeekToTracked
from services.common.kafka import KafkaPublisher
from services.contract import topics
from services.notifications.application import Notifications
from services.notifications.settings import NotificationsSettings


class MetadataFirstConsumer(TrackingConsumer):
    """The kernel's TrackingConsumer, but it learns its topics' partitions before joining the group.

    Workaround (to move into `services/common/consumer.py`): with kafka-python 3.0.12 a member that joins before its
    first metadata response is assigned nothing ("No partition metadata for topic ...") and, now and then, does not
    rejoin when the metadata arrives; after a restart it then consumed nothing for minutes.
    """

    def run(self, stop: threading.Event) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            client_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=200,
        )
        try:
            for topic in self.topics:
                consumer.partitions_for_topic(topic)  # blocks until the topic's metadata is known
            consumer.subscribe(self.topics, listener=_SeekToTracked(consumer, self.processor.app))
            while not stop.is_set():
                batch = consumer.poll(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        self.processor.process(record)
                if batch:
                    consumer.commit()
        finally:
            consumer.close()


def referral_events_consumer(
    settings: NotificationsSettings, notifications: Notifications, publisher: KafkaPublisher
) -> TrackingConsumer:
    processor = RecordProcessor(
        app=notifications,
        handler=notifications.route_referral_event,
        dead_letters=DeadLetterSink(publisher.send_raw),
        group=settings.consumer_group,
    )
    bootstrap, group = settings.kafka_bootstrap_servers, settings.consumer_group
    return MetadataFirstConsumer(bootstrap, group, [topics.REFERRAL], processor)
