"""The rule tables: versions, regime choice, and what the domain modules may import."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from services.consent.domain import RegimeSettingError, UnknownRegimeVersionError
from services.consent.engine import CONDITIONS, TRIGGERS, evaluate
from services.consent.explain import CATEGORIES, OBLIGATIONS, REASONS, explain, language
from services.consent.policy import ReasonCode, Route
from services.consent.rule_history import FIRST_LRSSS, FIRST_LSSSS
from services.consent.rules import (
    CURRENT,
    CURRENT_VERSION,
    TABLES,
    LegalSettings,
    build_tables,
    regime_for,
    table_for,
    version_of,
)
from services.contract.codes import InfoCategory, Obligation, Regime
from tests.consent.conftest import FIRST_VERSION, consent_fact, decision_input, facts

LSSSS = CURRENT[Regime.LSSSS_17_27_3]


def test_every_condition_and_trigger_named_by_a_table_exists() -> None:
    for table in TABLES.values():
        for route in table.routes:
            assert set(route.when) <= set(TRIGGERS), route.id
            assert set(route.requires) <= set(CONDITIONS), route.id


def test_a_changed_row_is_a_new_table_version_and_titles_are_not_legal_content() -> None:
    retitled = dataclasses.replace(
        LSSSS, routes=tuple(dataclasses.replace(r, title_en=r.title_en + "!") for r in LSSSS.routes)
    )
    review = dataclasses.replace(LSSSS, routes=(_with_status(LSSSS.routes[0]), *LSSSS.routes[1:]))
    assert version_of(retitled) == version_of(LSSSS)
    assert version_of(review) != version_of(LSSSS)
    assert version_of(LSSSS).startswith("2026-12-05+")


def test_the_first_tables_keep_their_versions_and_stay_known() -> None:
    """Decisions recorded before the corrections name these versions; the engine must still apply them."""
    assert {t.regime: version_of(t) for t in (FIRST_LSSSS, FIRST_LRSSS)} == FIRST_VERSION
    for regime, version in FIRST_VERSION.items():
        assert table_for(regime, version).label == "2026-11-25"
        assert CURRENT_VERSION[regime] != version


def test_legal_settings_are_part_of_the_tables_versions() -> None:
    """A deployment that moves the 19.0.1 amendment date or switches a route off applies other tables."""
    moved = build_tables(LegalSettings(danger_amendment=datetime(2017, 6, 9).date()))
    without = build_tables(LegalSettings(disabled_routes=frozenset({"B-10"})))
    assert version_of(moved[Regime.LSSSS_17_27_3]) != CURRENT_VERSION[Regime.LSSSS_17_27_3]
    assert version_of(moved[Regime.LRSSS]) == CURRENT_VERSION[Regime.LRSSS]
    assert "B-10" not in {r.id for r in without[Regime.LRSSS].routes}
    assert version_of(without[Regime.LRSSS]) != CURRENT_VERSION[Regime.LRSSS]


def _with_status(route: Route) -> Route:
    return dataclasses.replace(route, status=route.status.__class__("NEEDS_LEGAL_REVIEW"))


def test_an_unknown_table_version_is_refused_rather_than_guessed() -> None:
    with pytest.raises(UnknownRegimeVersionError):
        table_for(Regime.LSSSS_17_27_3, "2001-01-01+deadbeef")
    with pytest.raises(UnknownRegimeVersionError):
        evaluate(decision_input(regime_version="2001-01-01+deadbeef"), facts())


@pytest.mark.parametrize(
    ("setting", "at", "regime"),
    [
        ("LSSSS_17_27_3", datetime(2025, 3, 1, tzinfo=UTC), Regime.LSSSS_17_27_3),
        ("LRSSS", datetime(2020, 3, 1, tzinfo=UTC), Regime.LRSSS),
        ("BY_DATE", datetime(2024, 7, 1, 3, 59, 59, tzinfo=UTC), Regime.LSSSS_17_27_3),
        ("BY_DATE", datetime(2024, 7, 1, 4, 0, tzinfo=UTC), Regime.LRSSS),
    ],
)
def test_regime_setting(setting: str, at: datetime, regime: Regime) -> None:
    assert regime_for(setting, at) == regime


def test_unknown_regime_setting_fails_fast() -> None:
    with pytest.raises(RegimeSettingError):
        regime_for("LSSSS_1991", datetime(2025, 1, 1, tzinfo=UTC))


def test_every_code_has_a_french_and_an_english_text() -> None:
    for lang in ("fr", "en"):
        assert set(REASONS[lang]) == set(ReasonCode)  # type: ignore[index]
        assert set(OBLIGATIONS[lang]) == set(Obligation)  # type: ignore[index]
        assert set(CATEGORIES[lang]) == set(InfoCategory)  # type: ignore[index]


def test_explanation_names_the_article_the_consent_and_the_obligations() -> None:
    decision = evaluate(
        decision_input(categories=(InfoCategory.IDENTIFICATION, InfoCategory.HEALTH)), facts(consents=(consent_fact(),))
    )
    text = explain(decision, "en")
    assert "LSSSS art. 19" in text and "consent c-1" in text and "health information" in text
    assert explain(decision, "fr").startswith("Communication permise en partie.")


@pytest.mark.parametrize(
    ("header", "field", "expected"),
    [
        (None, None, "fr"),
        ("en-CA", None, "en"),
        ("de, en;q=0.3, fr;q=0.2", None, "en"),
        ("en", "fr", "fr"),
        ("es", None, "fr"),
    ],
)
def test_language_choice(header: str | None, field: str | None, expected: str) -> None:
    assert language(header, field, "fr") == expected
