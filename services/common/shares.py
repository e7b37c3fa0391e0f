"""Threads shared by tenants (organisations) so that no tenant, and no number of tenants, holds them all.

A tenant holds at most `per_tenant` of the `threads` at once. The last `reserve` of them go only to a tenant that holds
none and has not been slow lately: `slowed` (one of its requests outlasted its bound: a receiver or a name server that
did not answer in time) in the last `SLOW_FOR` seconds, by its own doing only: the delivery worker leaves out of an
attempt's time its wait for a name lookup thread (`services.common.egress.Tenant.queued`), and the lookups mark a
tenant whose lookup is still running at its deadline (`services.common.egress.Lookups`), else a tenant kept waiting by
tenants that hang would lose the reserve for their doing. Per-tenant shares alone left the threads to any few tenants
that hang until their deadlines (four shares of two are eight threads); with the reserve, the tenants seen to be slow
hold at most `threads - reserve` together however many they are, and a prompt tenant finds a thread as soon as one of
the reserve ends its (prompt) work. A tenant not yet seen to be slow takes at most one reserve thread, and holds it
until its first deadline, which marks it.

Not thread-safe: its owner serialises the calls (the delivery worker's round thread, the lookups' condition).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

SLOW_FOR = 600.0
"""How long a tenant is kept out of the reserve after one of its requests outlasted its bound: long enough to span its
next attempts (a receiver that hangs keeps hanging), short enough that a partner's bad minute is soon forgotten."""


class Shares:
    """Who may take one more of `threads` threads, from what each tenant holds (module docstring)."""

    def __init__(
        self, threads: int, per_tenant: int, reserve: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_tenant < 1 or not 0 <= reserve < threads:
            raise ValueError("a tenant's share is at least 1 and the reserve less than the threads")
        self.threads = threads
        self.per_tenant = per_tenant
        self.reserve = reserve
        self._clock = clock
        self._slow_until: dict[str, float] = {}

    def admits(self, tenant: str, held: Mapping[str, int]) -> bool:
        """Whether `tenant` may take a thread now, `held` being how many each tenant holds."""
        mine = held.get(tenant, 0)
        if mine >= self.per_tenant:
            return False
        limit = self.threads if mine == 0 and not self.slow(tenant) else self.threads - self.reserve
        return sum(held.values()) < limit

    def slowed(self, tenant: str) -> None:
        """One of `tenant`'s requests outlasted its bound by its own doing (not waiting for a thread): it stays out
        of the reserve for `SLOW_FOR` seconds."""
        now = self._clock()
        self._slow_until = {t: until for t, until in self._slow_until.items() if until > now}  # only recent ones
        self._slow_until[tenant] = now + SLOW_FOR

    def slow(self, tenant: str) -> bool:
        return self._slow_until.get(tenant, -math.inf) > self._clock()

    def slow_tenants(self) -> set[str]:
        now = self._clock()
        return {tenant for tenant, until in self._slow_until.items() if until > now}
