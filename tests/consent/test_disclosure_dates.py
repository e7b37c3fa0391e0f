"""A disclosure happens when it is asked: it cannot be dated back behind a withdrawal or a change of regime.

consent-rules.md: A-1 needs a consent valid "at the time of the disclosure, not withdrawn"; a withdrawal "stops future
disclosures, not past ones"; "the regime is chosen by the date of the disclosure". A disclosure registered now
releases information now, so it is dated now (up to `DISCLOSURE_LAG` back, for clocks and retries). A decision,
which releases and registers nothing, stays a question that may be asked as of any past moment.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.consent.application import DISCLOSURE_LAG, Consents
from services.consent.domain import ConsentTermsInvalidError
from services.consent.views import RegisterQuery
from services.contract.codes import Outcome, Regime
from tests.consent.conftest import DISCLOSER, T0
from tests.consent.test_api import ASK, CONSENT, _events
from tests.consent.test_application import WORKER, request, terms
from tests.consent.test_endings import _refused_naming

Auth = Callable[..., dict[str, str]]


def _recorded(app: Consents) -> int:
    return int(app.recorder.max_notification_id() or 0)


def test_a_disclosure_dated_behind_a_recorded_withdrawal_is_refused_naming_at(
    consents: Consents, clock: ManualClock
) -> None:
    consent, _ = consents.record_consent(terms(), WORKER)
    consents.withdraw_consent(uuid.UUID(consent.consent_id), WORKER)  # withdrawn now (T0)
    clock.advance(timedelta(hours=3))
    now, _ = consents.disclose(request(), WORKER)
    assert now.decision.outcome == Outcome.DENY
    stored = _recorded(consents)

    with pytest.raises(ConsentTermsInvalidError) as refused:
        consents.disclose(request(at=T0 - timedelta(hours=1)), WORKER)  # as if before the withdrawal
    assert refused.value.field == "at"
    assert _recorded(consents) == stored
    assert consents.register_entries(RegisterQuery())[0] == []


def test_a_disclosure_dated_into_the_repealed_regime_is_refused() -> None:
    clock = ManualClock(T0)  # BY_DATE: the LRSSS applies today
    with Consents(env=persistence_env("memory://"), clock=clock, regime_setting="BY_DATE") as app:
        # Open-ended and given under the LSSSS: not a consent the LRSSS accepts (correction 8).
        app.record_consent(terms(valid_from=datetime(2023, 3, 1, tzinfo=UTC)), WORKER)
        today, _ = app.disclose(request(), WORKER)
        assert today.decision.regime == Regime.LRSSS and today.decision.outcome == Outcome.DENY

        with pytest.raises(ConsentTermsInvalidError) as refused:
            app.disclose(request(at=datetime(2024, 6, 30, 12, tzinfo=UTC)), WORKER)
        assert refused.value.field == "at"
        assert app.register_entries(RegisterQuery())[0] == []


def test_a_disclosure_may_be_dated_up_to_the_lag_back_and_no_further(consents: Consents, clock: ManualClock) -> None:
    consents.record_consent(terms(), WORKER)
    clock.advance(timedelta(hours=1))
    now = clock()

    late, _ = consents.disclose(request(at=now - DISCLOSURE_LAG), WORKER)
    assert late.decision.outcome == Outcome.PERMIT and late.input.at == now - DISCLOSURE_LAG
    with pytest.raises(ConsentTermsInvalidError):
        consents.disclose(request(at=now - DISCLOSURE_LAG - timedelta(seconds=1)), WORKER)
    rows, _ = consents.register_entries(RegisterQuery())
    assert [row.at for row in rows] == [now - DISCLOSURE_LAG]


def test_a_decision_may_still_be_asked_as_of_a_past_moment(consents: Consents, clock: ManualClock) -> None:
    consent, _ = consents.record_consent(terms(), WORKER)
    consents.withdraw_consent(uuid.UUID(consent.consent_id), WORKER)
    clock.advance(timedelta(hours=3))

    then, _ = consents.decide(request(at=T0 - timedelta(hours=1)), WORKER)  # "was it permitted then?"
    assert then.decision.outcome == Outcome.PERMIT and then.register_entry_id is None
    assert consents.register_entries(RegisterQuery())[0] == []


def test_a_retry_of_a_recorded_disclosure_is_answered_after_the_lag(consents: Consents, clock: ManualClock) -> None:
    """The key's first answer stands: a retry is not a new disclosure, whatever its date."""
    consents.record_consent(terms(), WORKER)
    asked = request(at=clock())
    first, created = consents.disclose(asked, WORKER, idempotency_key="k-1")
    clock.advance(DISCLOSURE_LAG * 3)
    again, replayed = consents.disclose(asked, WORKER, idempotency_key="k-1")
    assert created and not replayed and again.decision_id == first.decision_id


@pytest.fixture
def api(consent_api: Callable[..., TestClient]) -> TestClient:
    return consent_api()


def test_the_api_refuses_a_backdated_disclosure_and_answers_the_same_decision(api: TestClient, auth: Auth) -> None:
    intake = auth(DISCLOSER, "intake")
    assert api.post("/v1/consents", json=CONSENT, headers=intake).status_code == 201
    past: dict[str, Any] = {**ASK, "at": "2026-11-20T12:00:00-05:00"}
    stored = _events(api)

    _refused_naming(api.post("/v1/disclosures", json=past, headers=intake), "at")
    assert _events(api) == stored
    decided = api.post("/v1/decisions", json=past, headers=intake)
    assert decided.status_code == 200 and decided.json()["outcome"] == "PERMIT_PARTIAL"
