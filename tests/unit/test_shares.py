"""Threads shared by tenants (`services.common.shares`): a share per tenant, and a reserve the tenants seen to be slow
never take, however many they are, until they have been prompt for `SLOW_FOR`."""

from __future__ import annotations

import pytest

from services.common.shares import SLOW_FOR, Shares


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_tenant_holds_at_most_its_share() -> None:
    shares = Shares(threads=8, per_tenant=2, reserve=2)
    assert shares.admits("a", {"a": 1})
    assert not shares.admits("a", {"a": 2})


def test_the_reserve_goes_only_to_a_tenant_holding_none() -> None:
    shares = Shares(threads=8, per_tenant=2, reserve=2)
    held = {"a": 2, "b": 2, "c": 1, "d": 1}
    assert not shares.admits("c", held), "a tenant's second thread is one of the other six"
    assert shares.admits("e", held) and shares.admits("e", {**held, "f": 1})
    assert not shares.admits("e", {**held, "f": 1, "g": 1}), "every thread is held"


def test_tenants_seen_slow_never_take_the_reserve_however_many_they_are() -> None:
    clock = Clock()
    shares = Shares(threads=8, per_tenant=2, reserve=2, clock=clock)
    slow = [f"slow-{n}" for n in range(20)]
    for tenant in slow:
        shares.slowed(tenant)
    held: dict[str, int] = {}
    for tenant in slow:
        if shares.admits(tenant, held):
            held[tenant] = 1
    assert sum(held.values()) == 6
    assert shares.admits("prompt", held)


def test_a_slow_tenant_is_forgotten_after_slow_for() -> None:
    clock = Clock()
    shares = Shares(threads=8, per_tenant=2, reserve=2, clock=clock)
    shares.slowed("a")
    held = {"b": 2, "c": 2, "d": 2}
    assert not shares.admits("a", held) and shares.slow_tenants() == {"a"}
    clock.now += SLOW_FOR
    assert shares.admits("a", held) and shares.slow_tenants() == set()
    shares.slowed("b")
    assert shares.slow_tenants() == {"b"}, "the marks that expired are dropped: they are as many as recent ones"


@pytest.mark.parametrize(("threads", "per_tenant", "reserve"), [(8, 0, 2), (8, 2, 8), (1, 1, 1), (8, 2, -1)])
def test_a_share_of_nothing_or_a_reserve_of_everything_is_refused(threads: int, per_tenant: int, reserve: int) -> None:
    with pytest.raises(ValueError, match="reserve less than the threads"):
        Shares(threads, per_tenant, reserve)
