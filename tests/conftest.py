"""Shared fixtures: a real Kafka broker and a real PostgreSQL server for the whole test session.

Each comes from, in order: the environment (`KAFKA_BOOTSTRAP_SERVERS`, `POSTGRES_DSN`); testcontainers when a
Docker engine answers; else a local process owned by this test run (Kafka from the Maven cache, PostgreSQL from
Debian's package), stopped at the end of the session.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.common import tracing
from services.common.auth import load_dev_key, mint_dev_token
from services.common.kafka import ensure_topics, make_admin
from services.contract.topics import PLATFORM_TOPICS
from services.notifications.main import build_app as notifications_app
from services.notifications.settings import NotificationsSettings
from services.referral.main import build_app as referral_app
from services.referral.settings import ReferralSettings
from services.runtime.kafka_local import LocalKafka, ensure_jars, find_java
from services.runtime.postgres_local import throwaway
from services.runtime.settings import RuntimeSettings
from tests.helpers import free_port
from tests.referral.fakes import fake_gateways


def _docker_container(kind: str) -> Any:
    """A testcontainers container when a Docker engine answers, else None (constructor fails fast)."""
    try:
        if kind == "kafka":
            from testcontainers.community.kafka import KafkaContainer

            return KafkaContainer("apache/kafka:4.1.1").with_kraft()
        from testcontainers.community.postgres import PostgresContainer

        return PostgresContainer("postgres:15")
    except Exception:
        return None


@pytest.fixture(scope="session")
def runtime_settings() -> RuntimeSettings:
    return RuntimeSettings()


@pytest.fixture(scope="session")
def kafka_bootstrap(runtime_settings: RuntimeSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if runtime_settings.external_kafka:
        bootstrap = runtime_settings.external_kafka
        _create_platform_topics(bootstrap)
        yield bootstrap
        return
    container = _docker_container("kafka")
    if container is not None:
        with container as kafka:
            bootstrap = kafka.get_bootstrap_server()
            _create_platform_topics(bootstrap)
            yield bootstrap
        return
    libs = ensure_jars(runtime_settings.kafka_version, runtime_settings.cache_dir)
    broker = LocalKafka(
        libs,
        tmp_path_factory.mktemp("kafka"),
        free_port(),
        free_port(),
        runtime_settings.kafka_heap,
        find_java(runtime_settings.java_home),
    )
    broker.start(timeout=120)
    try:
        _create_platform_topics(broker.bootstrap)
        yield broker.bootstrap
    finally:
        broker.stop()


def _create_platform_topics(bootstrap: str) -> None:
    admin = make_admin(bootstrap, "tests")
    try:
        ensure_topics(admin, PLATFORM_TOPICS)
    finally:
        admin.close()


@pytest.fixture(scope="session")
def postgres_dsn(runtime_settings: RuntimeSettings) -> Iterator[str]:
    if runtime_settings.postgres_dsn:
        yield runtime_settings.postgres_dsn
        return
    container = _docker_container("postgres")
    if container is not None:
        with container as postgres:
            yield postgres.get_connection_url().replace("postgresql+psycopg2://", "postgresql://")
        return
    with throwaway("rls-pg", free_port()) as server:
        yield server.dsn


def fresh_postgres_store(dsn: str) -> str:
    """An event store URL on a schema of its own, so tests never see each other's events."""
    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in dsn else "?"
    return f"{dsn}{separator}schema={schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same application tests on both event stores: a SQLite file and a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    dsn: str = request.getfixturevalue("postgres_dsn")
    return fresh_postgres_store(dsn)


@pytest.fixture
def collector_paused() -> Iterator[None]:
    """No garbage collection while the test runs, what was pending collected first. A test that drives a parser to
    Python's recursion limit (a body of 200,000 `[`s) would otherwise let a collection triggered at that depth run
    some earlier test's finalizer there: it fails with RecursionError, and pytest reports that unraisable exception
    as this test's failure (CI, 2026-12-04)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.fixture(scope="session")
def dev_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "dev-signing-key"
    load_dev_key(path)
    return path


@pytest.fixture
def token(dev_key_file: Path) -> Callable[..., str]:
    """`token(org, *roles, sub=...)` → a signed dev JWT."""

    def mint(org: str, *roles: str, sub: str = "test-user") -> str:
        return mint_dev_token(load_dev_key(dev_key_file), org, roles, sub, "rls", timedelta(hours=1))

    return mint


@pytest.fixture
def auth(token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """`auth(org, *roles)` → the Authorization header."""

    def header(org: str, *roles: str, sub: str = "test-user") -> dict[str, str]:
        return {"Authorization": f"Bearer {token(org, *roles, sub=sub)}"}

    return header


@pytest.fixture
def service_settings(tmp_path: Path, dev_key_file: Path) -> Callable[..., Any]:
    """`service_settings(SettingsClass, **overrides)` → settings isolated in this test's tmp dir, no Kafka loops."""

    def make(settings_class: Any, **overrides: Any) -> Any:
        values: dict[str, Any] = {
            "var_dir": tmp_path,
            "dev_key_file": dev_key_file,
            "event_store": "memory://",
            "relay_enabled": False,
            "consumers_enabled": False,
            "port": free_port(),
        }
        values.update(overrides)
        return settings_class(**values)

    return make


@pytest.fixture
def client_for() -> Iterator[Callable[[FastAPI], TestClient]]:
    """`client_for(app)` → a started TestClient (lifespan run), closed after the test."""
    clients: list[TestClient] = []

    def make(app: FastAPI) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def referral_and_notifications(
    kafka_bootstrap: str,
    tmp_path: Path,
    service_settings: Callable[..., Any],
    client_for: Callable[[FastAPI], TestClient],
) -> Callable[[str], tuple[TestClient, TestClient]]:
    """`referral_and_notifications(group_prefix)` → the referral service (its peers faked) and the notifications
    service in this process, each on its SQLite store, relay and consumers running on the test broker (a consumer
    group of its own)."""

    def start(group_prefix: str) -> tuple[TestClient, TestClient]:
        loops = {"kafka_bootstrap_servers": kafka_bootstrap, "relay_enabled": True, "consumers_enabled": True}
        referral_store = f"sqlite:///{tmp_path / 'referral.db'}"
        referral_api = referral_app(service_settings(ReferralSettings, event_store=referral_store, **loops))
        referral_api.state.gateways = lambda token: fake_gateways()  # agreements and consent: not here
        notifications_api = notifications_app(
            service_settings(
                NotificationsSettings,
                event_store=f"sqlite:///{tmp_path / 'notifications.db'}",
                consumer_group=f"{group_prefix}-{uuid.uuid4().hex}",
                **loops,
            )
        )
        return client_for(referral_api), client_for(notifications_api)

    return start


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans this process makes while the test runs (an in-memory exporter in place of OTLP)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    yield exporter
    tracing.use_provider(None)
    provider.shutdown()


TESTS = Path(__file__).resolve().parent
NEEDS_SERVERS = frozenset({"kafka_bootstrap", "postgres_dsn", "running"})
"""Fixtures that start (or reach) a broker, a database server or the platform's processes."""
SERVER_SUITES = frozenset({"integration", "e2e", "security", "contract"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`integration` marks whatever needs a broker, a database server or the platform's processes, so that
    `make unit` (`-m "not integration"`) runs everything else, with nothing running."""
    for item in items:
        suite = item.path.relative_to(TESTS).parts[0]
        if suite in SERVER_SUITES or NEEDS_SERVERS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


FIGURES: list[str] = []


@pytest.fixture(scope="session")
def report_figure() -> Callable[[str], None]:
    """`report_figure(line)`: a measured figure, printed in the summary at the end of the run (so `make test` shows
    the counts of the contract and fault suites without `-s`)."""
    return FIGURES.append


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
