"""An in-memory view of every referral, kept up to date from the notification log.

Listing, compliance reports and the clock tick need to look across referrals, which the event store cannot query.
The view applies each stored event to its aggregate with the domain's own `mutate`, so it holds exactly what the
repository would rebuild; it is rebuilt from the log when the process starts.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from typing import Any, cast

from services.common.eventstore import TrackedApplication
from services.referral.domain import Referral

PAGE = 1000


class ReferralIndex:
    def __init__(self, app: TrackedApplication) -> None:
        self._app = app
        self._position = 0
        self._referrals: dict[uuid.UUID, Referral] = {}
        self._lock = threading.Lock()

    def catch_up(self) -> None:
        """Applies the events stored since the last call."""
        with self._lock:
            while True:
                page = self._app.recorder.select_notifications(
                    start=self._position, limit=PAGE, inclusive_of_start=False
                )
                for notification in page:
                    domain_event = self._app.mapper.to_domain_event(notification)
                    current = self._referrals.get(domain_event.originator_id)
                    updated = cast(Any, domain_event).mutate(current)
                    if isinstance(updated, Referral):
                        self._referrals[updated.id] = updated
                    self._position = notification.id
                if len(page) < PAGE:
                    return

    def all(self) -> Iterable[Referral]:
        self.catch_up()
        with self._lock:
            return list(self._referrals.values())
