"""`rls relay referral` that dies by SIGKILL right after the broker acknowledged the first `RLS_TEST_KILL_AFTER`
records of its first batch of referral events: a crash between publishing and storing the relay's position, at the
moment the test chooses instead of one it races for (run as `python -m tests.integration.dying_relay`)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

from services import cli
from services.common.kafka import KafkaPublisher, Outgoing
from services.contract import topics


def main() -> None:
    after = int(os.environ["RLS_TEST_KILL_AFTER"])
    publish = KafkaPublisher.publish

    def publish_then_die(self: KafkaPublisher, messages: Sequence[Outgoing]) -> None:
        if not messages or messages[0].topic != topics.REFERRAL:  # integrity checkpoints, say
            publish(self, messages)
            return
        publish(self, messages[:after])  # returns once Kafka acknowledged them
        os.kill(os.getpid(), signal.SIGKILL)

    KafkaPublisher.publish = publish_then_die  # type: ignore[method-assign]
    sys.argv = ["rls", "relay", "referral"]
    cli.main()


if __name__ == "__main__":
    main()
