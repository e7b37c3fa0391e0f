"""Regional delay bounds are configuration, and a bound under one second is refused at start-up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.referral.settings import ReferralSettings


@pytest.mark.parametrize("seconds", [-3600, 0])
def test_a_bound_under_one_second_is_a_settings_error_naming_it(seconds: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFERRAL_STANDARD_BOUNDS_S", f'{{"AAOR_CALLBACK": {seconds}}}')
    with pytest.raises(ValidationError, match=r"REFERRAL_STANDARD_BOUNDS_S.*AAOR_CALLBACK"):
        ReferralSettings()


def test_a_regional_bound_overrides_annexe_ii(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFERRAL_STANDARD_BOUNDS_S", '{"AAOR_CALLBACK": 43200}')
    assert ReferralSettings().policy().bounds["AAOR_CALLBACK"] == timedelta(hours=12)
