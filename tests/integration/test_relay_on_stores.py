"""The outbox relay on the real stores: a write that rolled back holds nothing back."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError

from services.common.eventstore import persistence_env
from services.common.relay import OutboxRelay
from services.common.settings import ServiceSettings
from tests.unit.test_relay import Counter, Counters, RecordingPublisher, to_messages

DEFAULT_GAP_TIMEOUT = ServiceSettings.model_fields["relay_gap_timeout_s"].default


def test_a_write_that_rolled_back_holds_the_relay_back_for_no_time(store_url: str) -> None:
    """A version conflict rolls its transaction back; on PostgreSQL the notification ids it drew are never used (a
    gap). Every writer takes the events table's lock before drawing ids and commits before releasing it, so a gap
    below an id already visible can only be such a write's: the relay, with the platform's default gap timeout and a
    clock that does not move, publishes what follows it at once. It used to wait ten seconds."""
    with Counters(env=persistence_env(store_url)) as app, Counters(env=persistence_env(store_url)) as rival:
        counter = Counter()
        app.record(counter)
        stale = rival.repository.get(counter.id)
        counter.increment()
        app.record(counter)
        stale.increment()
        with pytest.raises(IntegrityError):
            rival.record(stale)  # version 2 is taken: rolled back
        after = Counter()
        app.record(after)
        publisher = RecordingPublisher()
        relay = OutboxRelay(app, to_messages, publisher, gap_timeout=DEFAULT_GAP_TIMEOUT, clock=lambda: 0.0)
        assert relay.run_once() == 3
        assert [m.key for m in publisher.sent][-1] == str(after.id)
        assert relay.position == app.recorder.max_notification_id()
