"""The referral view: rebuilt from the first event it holds the same rows as applied event by event (hypothesis over
random histories of submissions, lifecycle steps, redirects and clock ticks)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from services.cli import cli
from services.common.clock import ManualClock
from services.common.eventstore import persistence_env
from services.common.projections import Projector
from services.referral import views
from services.referral.application import Referrals
from services.referral.domain import TRANSITIONS, ReferralError, Step
from services.referral.main import build_application
from services.referral.ports import Coverage
from services.referral.settings import ReferralSettings
from services.referral.views import ReferralView
from tests.referral.conftest import T0
from tests.referral.fakes import FakeDirectory
from tests.referral.test_clocks import submission

ORGS = ("org-a", "org-b", "org-c")
SERVICES = ("AAOR", "SOCIAL_CONSULT", "PSYCH_CONSULT", "CRISIS_24_7")
DIRECTORY = FakeDirectory(coverages={("org-a", "org-c"): Coverage("agr-ac", "SERVICE_108")})
"""Referrals to org-c from org-a are under an agreement: a redirection to or from there changes theirs."""

submissions = st.builds(
    lambda frm, to, service, channel, urgency: replace(submission(service, channel, urgency), from_org=frm, to_org=to),
    st.sampled_from(ORGS),
    st.sampled_from(ORGS),
    st.sampled_from(SERVICES),
    st.sampled_from(("PHONE", "IN_PERSON")),
    st.sampled_from(("ROUTINE", "URGENT", "IMMEDIATE")),
)
SUBMISSION = replace(submission("AAOR"), from_org="org-a")
steps = st.one_of(
    st.tuples(st.just("submit"), submissions),
    st.tuples(st.just("step"), st.integers(0, 20), st.sampled_from(sorted(TRANSITIONS.keys() - {"redirect"}))),
    st.tuples(st.just("redirect"), st.integers(0, 20), st.sampled_from(ORGS), st.sampled_from(SERVICES)),
    st.tuples(st.just("wait"), st.integers(1, 72 * 60)),
    st.tuples(st.just("tick")),
)


def rows(projector: Projector) -> dict[str, list[Any]]:
    """Every row of the view, the referrals' states decoded and their documents opened."""
    view = projector.projection
    assert isinstance(view, ReferralView)
    with projector.reading() as tx:
        referrals = sorted(
            [*row[:-2], view.codec.decode(row[-2]), view.codec.open(row[-1])]
            for row in tx.execute("SELECT * FROM referral_rows")
        )
        clocks = sorted(tx.execute("SELECT * FROM referral_clocks"), key=repr)
        totals = sorted(tx.execute("SELECT * FROM referral_clock_totals WHERE clocks <> 0"))
    return {"referrals": referrals, "clocks": [list(c) for c in clocks], "totals": [list(t) for t in totals]}


def play(app: Referrals, clock: ManualClock, history: list[tuple[Any, ...]]) -> None:
    """Runs a history, reading the view after each step (it applies the new events a few at a time)."""
    ids = []
    for item in history:
        try:
            if item[0] == "submit":
                ids.append(app.submit(item[1], "worker", None, DIRECTORY)[0].id)
            elif item[0] == "wait":
                clock.advance(timedelta(minutes=item[1]))
            elif item[0] == "tick":
                app.tick()
            elif ids:
                referral = app.get_referral(ids[item[1] % len(ids)])
                extra = {"to_org": item[2], "to_service": item[3]} if item[0] == "redirect" else {}
                command = "redirect" if item[0] == "redirect" else item[2]
                actor = referral.from_org if command in ("cancel",) else referral.to_org
                step = Step(actor, "worker", clock(), **extra)
                if command == "redirect":
                    app.redirect(referral.id, step, None, DIRECTORY)
                else:
                    app.perform(referral.id, command, step, None)
        except ReferralError:
            pass  # an impossible step for this referral now: nothing recorded
        app.list_referrals()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(steps, min_size=1, max_size=40))
def test_a_rebuild_gives_the_same_rows_as_incremental_application(history: list[tuple[Any, ...]]) -> None:
    clock = ManualClock(T0)
    app = Referrals(env=persistence_env("memory://"), clock=clock)
    play(app, clock, history)
    [projector] = app.projectors
    expected = Counter(
        (c.standard.value, c.state.value) for r in app.list_referrals() for c in app.clocks(r)
    )  # the clocks computed from each referral's history
    assert app.index.clock_states(clock()) == expected
    incremental = rows(projector)
    assert len(incremental["referrals"]) == sum(1 for item in history if item[0] == "submit")
    projector.rebuild()
    assert rows(projector) == incremental
    app.close()


def test_rls_projections_rebuild_rebuilds_a_services_views_from_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RLS_VAR_DIR", str(tmp_path))
    settings = ReferralSettings(var_dir=tmp_path)
    with build_application(settings) as referrals:
        for _ in range(3):
            referrals.submit(SUBMISSION, "worker", None, FakeDirectory())
        before = rows(referrals.projectors[0])
    result = CliRunner().invoke(cli, ["projections", "rebuild", "referral"])
    assert result.exit_code == 0, result.output
    assert "referral_view: 3 events applied" in result.output
    with build_application(settings) as referrals:
        assert rows(referrals.projectors[0]) == before
    assert CliRunner().invoke(cli, ["projections", "rebuild", "nobody"]).exit_code == 2


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
def test_the_clocks_states_read_the_closed_clocks_totals_and_the_open_clocks_only(store_url: str) -> None:
    """The metric of the clocks' states is scraped every few seconds: it reads the totals the view keeps of the met
    and stopped clocks and the open clocks (an index of their own), never the history of closed ones (here their
    rows are rewritten behind the view's back, and the states are still those of the totals)."""
    clock = ManualClock(T0)
    with Referrals(env=persistence_env(store_url), clock=clock) as app:
        handled = [app.submit(SUBMISSION, "worker", None, FakeDirectory())[0] for _ in range(3)]
        clock.advance(timedelta(minutes=30))
        for referral in handled:
            app.perform(referral.id, "callback", Step(referral.to_org, "worker", clock()), None)
        waiting = app.submit(SUBMISSION, "worker", None, FakeDirectory())[0]
        clock.advance(timedelta(hours=30))
        expected = Counter((c.standard.value, c.state.value) for r in app.list_referrals() for c in app.clocks(r))
        assert expected[("AAOR_CALLBACK", "MET")] == 3 and expected[("AAOR_CALLBACK", "BREACHED")] == 1
        assert app.index.clock_states(clock()) == expected
        [projector] = app.projectors
        with projector.db.connection() as tx:  # behind the view's back
            tx.execute("UPDATE referral_clocks SET standard = 'REWRITTEN' WHERE met_at IS NOT NULL")
        assert app.index.clock_states(clock()) == expected
        assert waiting.id in {r.id for r in app.list_referrals()}


def test_the_views_version_follows_the_documents_it_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows keep each referral's document as the API shows it: a new rendering must rebuild them by itself."""
    app = Referrals(env=persistence_env("memory://"))
    view = app.projectors[0].projection
    before = view.version
    monkeypatch.setattr(views, "DOCUMENTS_VERSION", "2:another-rendering")
    assert view.version != before and view.version.endswith(":2:another-rendering")
