"""The engine's compiled tables: which routes a request reaches, worked out once for requests alike, must be what
the routes' own dates and triggers say; and the decision's value objects, built without a frozen dataclass's
per-field `object.__setattr__`, must stay the frozen dataclasses they were."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.consent.engine import _considered, _plan
from services.consent.policy import (
    QUEBEC,
    Basis,
    DangerAssessment,
    Decision,
    DecisionInput,
    Reason,
    ReasonCode,
    filled_at_once,
    local_date,
)
from services.consent.rules import CURRENT, TABLES, table_for
from services.contract.codes import DangerAct, InfoCategory, Purpose, Regime
from tests.consent.conftest import decision_input
from tests.consent.test_engine_properties import requests

ROUTE_DATES = sorted({d for t in TABLES.values() for r in t.routes for d in (r.in_force_from, r.in_force_until) if d})
near_route_dates = st.tuples(st.sampled_from(ROUTE_DATES), st.integers(min_value=-2, max_value=2)).map(
    lambda day_shift: datetime.combine(day_shift[0] + timedelta(days=day_shift[1]), time(12), tzinfo=QUEBEC)
)


def reached(request: DecisionInput) -> list[str]:
    table = table_for(request.regime, request.regime_version)
    return [step.route.id for step in _plan(table).reached(request, local_date(request.at))]


def considered(request: DecisionInput) -> list[str]:
    table = table_for(request.regime, request.regime_version)
    return [route.id for route in table.routes if _considered(route, request, local_date(request.at))]


@settings(max_examples=400, deadline=None)
@given(requests(), st.sampled_from(sorted(TABLES)), st.none() | near_route_dates)
def test_the_routes_reached_are_the_routes_whose_dates_and_triggers_hold(
    request: DecisionInput, table: tuple[Regime, str], at: datetime | None
) -> None:
    """Every table, requests of every kind, dates on both sides of a route's text changing: the plan's answer, kept
    from earlier requests alike, is the one the routes give when asked one by one."""
    regime, version = table
    request = dataclasses.replace(request, regime=regime, regime_version=version, at=at or request.at)
    assert reached(request) == considered(request)


def test_a_danger_disclosure_reaches_the_text_in_force_on_its_date_whatever_was_asked_before() -> None:
    """Art. 19.0.1 changed on 2017-05-30: two requests alike but for the date, in either order."""
    danger = decision_input(
        purpose=Purpose.EMERGENCY,
        context={"danger_assessment": DangerAssessment(act=DangerAct.SUICIDE)},
        at=datetime(2017, 5, 29, 23, 30, tzinfo=QUEBEC),
    )
    day_after = dataclasses.replace(danger, at=datetime(2017, 5, 30, 0, 30, tzinfo=QUEBEC))
    for request in (danger, day_after, danger):
        assert reached(request) == considered(request)
    assert "A-6/2001" in reached(danger)
    assert "A-6" not in reached(danger)
    assert "A-6" in reached(day_after)
    assert "A-6/2001" not in reached(day_after)


def test_a_plan_is_compiled_once_for_its_table() -> None:
    table = CURRENT[Regime.LRSSS]
    assert _plan(table) is _plan(table)
    assert _plan(table).table is table


@pytest.mark.parametrize("cls", [Basis, Reason, Decision])
def test_the_decisions_value_objects_keep_the_dataclass_signature_and_stay_frozen(cls: type) -> None:
    fields = dataclasses.fields(cls)
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [(p.name, p.default) for p in parameters] == [
        (f.name, inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default) for f in fields
    ]
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_a_value_object_filled_at_once_is_equal_hashable_replaceable_and_frozen() -> None:
    reason = Reason(ReasonCode.CATEGORY_NOT_COVERED, "B-1", (InfoCategory.CONTACT,))
    same = Reason(code=ReasonCode.CATEGORY_NOT_COVERED, route="B-1", categories=(InfoCategory.CONTACT,))
    assert reason == same
    assert hash(reason) == hash(same)
    assert reason.detail is None
    assert dataclasses.replace(reason, detail="X") == Reason(
        ReasonCode.CATEGORY_NOT_COVERED, "B-1", (InfoCategory.CONTACT,), None, None, "X"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        reason.route = "B-2"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Reason()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Reason(ReasonCode.NO_ROUTE, unknown=1)  # type: ignore[call-arg]


def test_only_plain_fields_are_filled_at_once() -> None:
    """A default factory or a __post_init__ would be skipped: refused where the class is declared."""

    @dataclasses.dataclass(frozen=True)
    class Listed:
        items: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            assert self.value >= 0

    for cls in (Listed, Checked):
        with pytest.raises(TypeError):
            filled_at_once(cls)
