"""A referral names the person by a pseudonymous id: a health insurance number (NAM) is refused before anything is
recorded (it would go unchanged onto `rls.referral.v1`, each establishment's topic and webhooks), and neither the
problem document nor the logs repeat it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from tests.referral.conftest import ReferralService, body

Auth = Callable[..., dict[str, str]]
SENDER = "csss-a"


def _recorded(service: ReferralService) -> int:
    return int(service.app.state.application.recorder.max_notification_id() or 0)


@pytest.mark.parametrize("nam", ["TREJ55123112", "trej55623112", "TREJ-5512-3112", "Trej.551231.12"])
def test_a_referral_naming_the_person_by_a_nam_is_refused_without_echoing_it(
    service: ReferralService, auth: Auth, caplog: pytest.LogCaptureFixture, nam: str
) -> None:
    caplog.set_level(logging.DEBUG)
    response = service.client.post("/v1/referrals", json=body(subject_id=nam), headers=auth(SENDER, "intake"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["type"] == "urn:ca.qc.rls:problem:validation"
    assert problem["errors"] == [
        {
            "field": "subject_id",
            "message": "must be a pseudonymous id, not a health insurance number (NAM)",
            "type": "subject_id_nam",
        }
    ]
    assert nam not in response.text and nam.upper() not in response.text.upper()
    assert nam not in "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert _recorded(service) == 0


def test_a_pseudonymous_id_that_only_looks_like_one_is_accepted(service: ReferralService, auth: Auth) -> None:
    response = service.client.post(
        "/v1/referrals", json=body(subject_id="subj00001234"), headers=auth(SENDER, "intake")
    )
    assert response.status_code == 201, response.text
    assert response.json()["subject_id"] == "subj00001234"
