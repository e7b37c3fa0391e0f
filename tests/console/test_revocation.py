"""Signing out ends the session wherever a copy of its cookie is: on every console replica sharing the session store,
after a restart, for that session only (or, asked for, every session of the user begun until then); revocations are
purged once the sessions they name have expired, and a session's id is never logged. On a SQLite file and on a real
PostgreSQL server (`store_url`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from services.common.sqlstore import SQLStore
from services.console import revocations, session
from services.console.main import build_app
from services.console.revocations import MIGRATIONS, Revocations
from services.console.session import SESSION_COOKIE
from services.console.settings import API_SERVICES, ConsoleSettings
from services.runtime import demo
from tests.conftest import fresh_postgres_store
from tests.console.test_pages import FakeServices, csrf

SIGN_IN_AGAIN = "/connexion?suivant=%2Fdemandes&expiree=1"


@pytest.fixture
def settings(tmp_path: Path, dev_key_file: Path, store_url: str) -> ConsoleSettings:
    """What every replica of one console is given: the same session key (generated once under var/) and store."""
    return ConsoleSettings(
        var_dir=tmp_path,
        dev_key_file=dev_key_file,
        session_store=store_url,
        **{f"{s}_url": f"http://{s}" for s in API_SERVICES},
    )


@contextmanager
def replica(settings: ConsoleSettings) -> Iterator[TestClient]:
    """One console process (its own app, its own connections to the store) in front of fake services."""
    app = build_app(settings)
    fake = FakeServices()
    app.state.console.clients = {
        s: httpx.AsyncClient(base_url=f"http://{s}", transport=httpx.MockTransport(fake.handler(s)))
        for s in API_SERVICES
    }
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        yield client


def signed_in(client: TestClient, sub: str) -> str:
    """Signs `sub` in (dev sign-in) and returns the session cookie, as someone copying it would."""
    data = {"csrf": csrf(client), "org": demo.CRISIS_CENTRE, "roles": ["intake"], "sub": sub, "suivant": "/demandes"}
    assert client.post("/connexion/dev", data=data, follow_redirects=False).status_code == 303
    return str(client.cookies[SESSION_COOKIE])


def sign_out(client: TestClient, path: str = "/deconnexion") -> None:
    out = client.post(path, data={"csrf": csrf(client, "/demandes")}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/connexion"


def worklist_with(client: TestClient, cookie: str) -> httpx.Response:
    """The worklist asked with exactly this session cookie (the one the browser holds, or a copy)."""
    client.cookies.set(SESSION_COOKIE, cookie, domain="testserver.local")  # where the console's own is kept
    return client.get("/demandes", follow_redirects=False)


def refused(response: httpx.Response) -> bool:
    return response.status_code == 303 and response.headers["location"] == SIGN_IN_AGAIN


def test_a_cookie_copied_before_sign_out_is_refused_by_every_replica_and_after_a_restart(
    settings: ConsoleSettings,
) -> None:
    with replica(settings) as first, replica(settings) as second:
        copy = signed_in(first, "lea")
        assert worklist_with(second, copy).status_code == 200  # replicas share the key: a copy opens anywhere
        sign_out(first)
        assert SESSION_COOKIE not in first.cookies
        assert refused(worklist_with(first, copy))
        assert refused(worklist_with(second, copy))
    with replica(settings) as restarted:
        assert refused(worklist_with(restarted, copy))


def test_signing_out_leaves_other_sessions_alone(settings: ConsoleSettings) -> None:
    with replica(settings) as first, replica(settings) as second:
        lea, marc = signed_in(first, "lea"), signed_in(second, "marc")
        lea_elsewhere = signed_in(second, "lea")  # the same person in another browser
        sign_out(second)
        assert refused(worklist_with(first, lea_elsewhere))
        assert worklist_with(first, lea).status_code == 200
        assert worklist_with(first, marc).status_code == 200


def test_ending_all_my_sessions_ends_those_begun_before_only_mine(settings: ConsoleSettings) -> None:
    with replica(settings) as first, replica(settings) as second:
        here, elsewhere, marc = signed_in(first, "lea"), signed_in(second, "lea"), signed_in(second, "marc")
        worklist_with(first, here)
        sign_out(first, "/deconnexion/partout")
        assert SESSION_COOKIE not in first.cookies
        for cookie in (here, elsewhere):
            assert refused(worklist_with(first, cookie)) and refused(worklist_with(second, cookie))
        assert worklist_with(first, marc).status_code == 200
        first.cookies.clear()
        again = signed_in(first, "lea")  # begun after: not concerned
        assert worklist_with(second, again).status_code == 200


class Clock:
    """A module's clock, `seconds` ahead of the real one."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def time(self) -> float:
        return time.time() + self.seconds


def test_a_copy_kept_active_elsewhere_ends_when_the_users_own_cookie_is_found_idle(
    settings: ConsoleSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(session, "time", clock)
    with replica(settings) as console:
        own = signed_in(console, "lea")
        copy = own
        for minutes in (20, 40):  # the copy is used every 20 minutes: never idle itself
            clock.seconds = minutes * 60
            worklist_with(console, copy)
            copy = str(console.cookies[SESSION_COOKIE])
        clock.seconds = 45 * 60
        assert refused(worklist_with(console, own))  # idle for 45 minutes: the session ends, every copy with it
        assert refused(worklist_with(console, copy))


def test_revocations_are_purged_once_their_sessions_have_expired(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Revocations(store_url)
    now = time.time()
    store.revoke("ends-soon", now + 60)
    store.revoke("ends-later", now + 3600)
    store.revoke_subject("lea", 60)
    clock = Clock()
    monkeypatch.setattr(revocations, "time", clock)
    clock.seconds = 120
    store.revoke("new", now + 7200)  # each revocation purges what has expired
    with SQLStore(store_url, "CONSOLE_SESSION_STORE", "console-sessions", MIGRATIONS).connect() as db:
        sids = {row[0] for row in db.execute("SELECT sid FROM console_revoked_sessions").fetchall()}
        subjects = db.execute("SELECT sub FROM console_revoked_subjects").fetchall()
    assert sids == {"ends-later", "new"} and subjects == []
    assert store.revoked("ends-later", "marc", now) and not store.revoked("other", "lea", now)
    store.close()


def test_the_session_id_is_never_logged_nor_shown(settings: ConsoleSettings, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG), replica(settings) as console:
        copy = signed_in(console, "lea")
        page = worklist_with(console, copy)
        sign_out(console)
        assert refused(worklist_with(console, copy))
        document = console.app.state.console.cookies.open(SESSION_COOKIE, copy)
    sid = document["sid"]
    assert len(sid) >= 43 and caplog.records  # 256 random bits; and the requests did log
    assert sid not in caplog.text and sid not in page.text and sid not in str(page.headers)


@pytest.fixture
def postgres_store(postgres_dsn: str) -> str:
    return fresh_postgres_store(postgres_dsn)


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The PostgreSQL connections opened, by the application name they gave (`psycopg.connect` is an alias of
    `Connection.connect` taken at import: both are counted)."""
    opened: list[str | None] = []
    connect = psycopg.Connection.connect

    def counting(*args: Any, **kwargs: Any) -> Any:
        opened.append(kwargs.get("application_name"))
        return connect(*args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "connect", counting)
    monkeypatch.setattr(psycopg, "connect", counting)
    return opened


@pytest.mark.integration
def test_page_loads_reuse_the_session_stores_connections(
    tmp_path: Path, dev_key_file: Path, postgres_store: str, connects: list[str | None]
) -> None:
    """Each page asks the session store whether its session was revoked: not over a new connection each time."""
    settings = ConsoleSettings(
        var_dir=tmp_path,
        dev_key_file=dev_key_file,
        session_store=postgres_store,
        **{f"{s}_url": f"http://{s}" for s in API_SERVICES},
    )
    with replica(settings) as console:
        cookie = signed_in(console, "lea")
        assert worklist_with(console, cookie).status_code == 200
        before = len(connects)
        for _ in range(20):
            assert worklist_with(console, cookie).status_code == 200
        assert len(connects) == before  # the connection the first pages used serves the next ones


@pytest.mark.integration
def test_concurrent_checks_open_at_most_a_connection_per_thread(
    postgres_store: str, connects: list[str | None]
) -> None:
    store = Revocations(postgres_store)
    try:
        asking: set[int] = set()

        def pages() -> None:
            asking.add(threading.get_ident())
            for _ in range(10):
                assert not store.revoked("sid", "lea", time.time())

        threads = [threading.Thread(target=pages) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        kept = connects.count("rls-console-sessions")  # not those of the migrations, opened once at start
        assert len(asking) == 8 and 1 <= kept <= min(len(asking), revocations.CONNECTIONS)
    finally:
        store.close()


@pytest.mark.integration
def test_a_revocation_by_another_replica_is_seen_at_the_next_check(postgres_store: str) -> None:
    """Kept connections cache nothing: each check reads the store as it now stands (no "not revoked" remembered)."""
    here, there = Revocations(postgres_store), Revocations(postgres_store)
    try:
        issued = time.time() - 1
        assert not here.revoked("sid-1", "lea", issued) and not here.revoked("sid-2", "marc", issued)
        there.revoke("sid-1", time.time() + 3600)
        assert here.revoked("sid-1", "lea", issued)
        there.revoke_subject("marc", 3600)
        assert here.revoked("sid-2", "marc", issued)
    finally:
        here.close()
        there.close()


@pytest.mark.integration
def test_a_kept_connection_that_broke_is_replaced(postgres_dsn: str, postgres_store: str) -> None:
    """A connection the server ended (restart, idle timeout, failover) is not handed to the next page: replaced."""
    store = Revocations(postgres_store)
    try:
        assert not store.revoked("sid", "lea", time.time())
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'rls-console-sessions' AND pid <> pg_backend_pid()"
            )
        store.revoke("sid", time.time() + 60)
        assert store.revoked("sid", "lea", time.time())
    finally:
        store.close()
