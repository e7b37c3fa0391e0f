"""Every store the platform owns, in both documented PostgreSQL forms (a database per service; one database with
`?schema=<service>`), on the real server: schemas created when missing, a clear error naming the setting and the
grant when they cannot be, migrations versioned and applied once even by replicas starting at once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from services.audit.views import HistoryDB, HistoryRow
from services.common.sqlstore import LEDGER, StoreSetupError
from services.referral.main import build_application
from services.referral.settings import ReferralSettings
from tests.integration.test_event_stores import SUBMISSION
from tests.referral.fakes import FakeDirectory

VAULT_KEY = "a2V5LWtleS1rZXkta2V5LWtleS1rZXkta2V5LWtleS0="  # base64 of 32 bytes


def fresh_database(dsn: str) -> str:
    """A database of its own (the database-per-service form): its URL, no schema named."""
    name = "db_" + uuid.uuid4().hex[:10]
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return dsn.rsplit("/", 1)[0] + f"/{name}"


def missing_schema(dsn: str) -> str:
    """The one-database form on a schema nobody created yet (as an operator following the README writes it)."""
    return f"{dsn}?schema=referral_{uuid.uuid4().hex[:8]}"


FORMS: dict[str, Callable[[str], str]] = {"database-per-service": fresh_database, "schema-per-service": missing_schema}


@pytest.fixture(params=sorted(FORMS))
def form_url(request: pytest.FixtureRequest, postgres_dsn: str) -> str:
    return FORMS[request.param](postgres_dsn)


def referral_settings(url: str, tmp_path: Path, **overrides: Any) -> ReferralSettings:
    return ReferralSettings(event_store=url, var_dir=tmp_path, vault_key=VAULT_KEY, **overrides)


def ledger(url: str, schema: str) -> list[tuple[str, int]]:
    with psycopg.connect(url.split("?")[0]) as connection:
        rows = connection.execute(f'SELECT component, version FROM "{schema}".{LEDGER} ORDER BY 1, 2').fetchall()  # noqa: S608
    return [(row[0], row[1]) for row in rows]


def test_the_referral_service_starts_on_either_form_with_its_vault_beside_its_events(
    form_url: str, tmp_path: Path
) -> None:
    settings = referral_settings(form_url, tmp_path)
    referrals = build_application(settings)
    try:
        referral, created = referrals.submit(SUBMISSION, "worker-1", "k-1", FakeDirectory(), {"CONTACT": "555-0199"})
        assert created
        assert referrals.vault.read(str(referral.id), ["CONTACT"]) == {"CONTACT": "555-0199"}
    finally:
        referrals.close()
    schema = form_url.split("schema=")[1] if "schema=" in form_url else "public"
    assert ledger(form_url, schema) == [("referral-vault", 1), ("referrals_seals", 1)]


def test_the_audit_database_starts_on_either_form(form_url: str) -> None:
    history = HistoryDB(form_url.replace("referral_", "audit_"))
    row = HistoryRow(
        "e-1", "rls.referral.v1", 0, 0, "ca.qc.rls.referral.submitted.v1", "referral", "r-1", "t", None, ""
    )
    history.ingest([row, row])
    assert history.count() == 1


def test_migrations_are_applied_once_by_replicas_starting_at_once(postgres_dsn: str, tmp_path: Path) -> None:
    url = missing_schema(postgres_dsn)
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def replica() -> None:
        try:
            start.wait()
            build_application(referral_settings(url, tmp_path)).close()
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    schema = url.split("schema=")[1]
    assert ledger(url, schema) == [("referral-vault", 1), ("referrals_seals", 1)]
    build_application(referral_settings(url, tmp_path)).close()  # again: nothing left to apply
    assert ledger(url, schema) == [("referral-vault", 1), ("referrals_seals", 1)]


@pytest.fixture
def restricted_role(postgres_dsn: str) -> str:
    """A role that may connect but create nothing in the database (as a cautious DBA would make it)."""
    role = "app_" + uuid.uuid4().hex[:8]
    database = "db_" + uuid.uuid4().hex[:10]
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {role} LOGIN")
        connection.execute(f"CREATE DATABASE {database}")
    with psycopg.connect(postgres_dsn.rsplit("/", 1)[0] + f"/{database}", autocommit=True) as connection:
        connection.execute(f"REVOKE CREATE ON DATABASE {database} FROM PUBLIC")
        connection.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        connection.execute("CREATE SCHEMA shared")
    host = postgres_dsn.split("@", 1)[1].rsplit("/", 1)[0]
    return f"postgresql://{role}@{host}/{database}"


def test_a_schema_that_cannot_be_created_names_the_setting_and_the_grant(restricted_role: str, tmp_path: Path) -> None:
    settings = referral_settings(f"{restricted_role}?schema=referral", tmp_path)
    with pytest.raises(StoreSetupError) as raised:
        build_application(settings)
    assert "REFERRAL_EVENT_STORE" in str(raised.value)
    assert "GRANT CREATE ON DATABASE" in str(raised.value)


def test_a_schema_without_the_right_to_create_tables_names_the_grant(restricted_role: str) -> None:
    with pytest.raises(StoreSetupError) as raised:
        HistoryDB(f"{restricted_role}?schema=shared")
    assert "AUDIT_DATABASE" in str(raised.value)
    assert "GRANT USAGE, CREATE ON SCHEMA shared" in str(raised.value)
