"""Regional delay bounds are configuration, each from the date it takes effect; a bound under one second, or two
in effect at once, is refused at start-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

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


def test_a_regional_bound_takes_effect_from_its_date_a_date_at_midnight_in_quebec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "REFERRAL_STANDARD_BOUNDS_S",
        '{"AAOR_ANALYSIS": [{"s": 864000}, {"s": 604800, "from": "2027-04-01"}],'
        ' "AAOR_CALLBACK": [{"s": 43200, "from": "2027-01-01T08:00:00-05:00"}]}',
    )
    policy = ReferralSettings().policy()
    midnight = datetime(2027, 4, 1, tzinfo=ZoneInfo("America/Montreal"))
    assert policy.bound("AAOR_ANALYSIS", midnight - timedelta(microseconds=1)) == timedelta(days=10)
    assert policy.bound("AAOR_ANALYSIS", midnight) == timedelta(days=7)
    eight = datetime(2027, 1, 1, 13, tzinfo=UTC)
    assert policy.bound("AAOR_CALLBACK", eight - timedelta(seconds=1)) == timedelta(hours=24)  # Annexe II before
    assert policy.bound("AAOR_CALLBACK", eight) == timedelta(hours=12)


@pytest.mark.parametrize(
    "bounds",
    [
        '{"AAOR_ANALYSIS": [{"s": 864000}, {"s": 604800}]}',
        '{"AAOR_ANALYSIS": [{"s": 864000, "from": "2027-04-01"}, {"s": 604800, "from": "2027-04-01"}]}',
        '{"AAOR_ANALYSIS": [{"s": 0, "from": "2027-04-01"}]}',
        '{"AAOR_ANALYSIS": []}',
    ],
)
def test_bounds_that_do_not_say_which_applies_when_are_a_settings_error_naming_them(
    bounds: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFERRAL_STANDARD_BOUNDS_S", bounds)
    with pytest.raises(ValidationError, match=r"REFERRAL_STANDARD_BOUNDS_S.*AAOR_ANALYSIS"):
        ReferralSettings()
