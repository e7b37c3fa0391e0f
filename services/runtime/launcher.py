"""`rls run`: local Kafka (unless one is given), the five services, the demo network; Ctrl-C stops it all.

Every process is supervised (services/runtime/supervisor.py): one that exits is started again with backoff."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.auth import load_dev_key, mint_dev_token
from services.common.clock import system_clock
from services.common.eventstore import redacted
from services.common.kafka import ensure_topics, make_admin
from services.common.kafka_acls import load_acl_file
from services.common.kafka_security import KafkaAccess
from services.common.settings import StoreLocation
from services.contract.topics import ORG_NAMESPACE, PLATFORM_TOPICS
from services.runtime import demo
from services.runtime.kafka_local import LocalKafka, ensure_jars, find_java
from services.runtime.kafka_security import BrokerSecurity, prepare_security, provision, service_environment
from services.runtime.registry import PROCESSES, SERVICES, settings_class
from services.runtime.settings import RuntimeSettings
from services.runtime.supervisor import Supervisor, stop_recorded

DEV_TOKEN_TTL = timedelta(hours=12)

Minter = Callable[[str, list[str], str], str]
"""A bearer token for an organisation, roles and subject."""


class LaunchError(RuntimeError):
    """The platform could not start; everything started so far was stopped."""


def run_dir(settings: RuntimeSettings) -> Path:
    return settings.var_dir / "run"


def platform_file(settings: RuntimeSettings) -> Path:
    return run_dir(settings) / "platform.json"


def launcher_pid_file(settings: RuntimeSettings) -> Path:
    return run_dir(settings) / "launcher.pid"


def processes_file(settings: RuntimeSettings) -> Path:
    """Every process the launcher started (restarts included): what `rls stop` stops."""
    return run_dir(settings) / "processes.json"


class _Address(BaseSettings):
    """A process's `<SERVICE>_HOST` and `<SERVICE>_PORT` alone (its other settings are its own process's to check:
    in production mode the launcher does not hold every service's secrets and principal)."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str | None = None
    port: int | None = None


def service_urls() -> dict[str, str]:
    """Each service's URL as its own settings see it (ports overridable with `<SERVICE>_PORT`)."""
    urls = {}
    for name in PROCESSES:
        defaults = settings_class(name).model_fields
        address = _Address(_env_prefix=f"{name.upper()}_")
        host = address.host or defaults["host"].default
        urls[name] = f"http://{host}:{address.port or defaults['port'].default}"
    return urls


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Platform:
    """The processes `rls run` owns, in start order."""

    settings: RuntimeSettings
    kafka: LocalKafka | None = None
    security: BrokerSecurity | None = None
    urls: dict[str, str] = field(default_factory=dict)
    supervisor: Supervisor | None = None
    mint: Minter | None = None
    """Signs the demo loader's tokens (`org`, `roles`, `sub`); None: the dev key (`rls run`, dev mode)."""

    @property
    def bootstrap(self) -> str:
        if self.settings.external_kafka:
            return self.settings.external_kafka
        assert self.kafka is not None
        return self.kafka.bootstrap

    def process(self, name: str) -> subprocess.Popen[bytes]:
        """The current process of `kafka` or a service (a restarted one is a new process)."""
        assert self.supervisor is not None
        return self.supervisor.process(name)

    @property
    def services(self) -> dict[str, subprocess.Popen[bytes]]:
        """The current process of each service."""
        return {name: self.process(name) for name in SERVICES}

    @property
    def admin_access(self) -> KafkaAccess:
        """How the launcher itself reaches the broker (the super user of a secured local broker)."""
        return self.kafka.access if self.kafka is not None else self.settings.kafka_access

    def start(self, say: Any = print) -> dict[str, Any]:
        started = time.monotonic()
        var = self.settings.var_dir.resolve()
        self.supervisor = Supervisor(processes_file(self.settings), say)
        if not self.settings.external_kafka:
            libs = ensure_jars(self.settings.kafka_version, self.settings.cache_dir)
            if self.settings.kafka_security == "sasl_ssl":
                reauth_ms = int(self.settings.kafka_reauth_s * 1000)
                acls = load_acl_file(org_namespace=ORG_NAMESPACE)
                self.security = prepare_security(var / "kafka" / "security", acls, reauth_ms)
            self.kafka = LocalKafka(
                libs,
                var / "kafka",
                self.settings.kafka_port,
                self.settings.kafka_controller_port,
                self.settings.kafka_heap,
                find_java(self.settings.java_home),
                self.security,
            )
            say(
                f"starting Apache Kafka {self.settings.kafka_version} (KRaft, {self.settings.kafka_security}) "
                f"on {self.kafka.bootstrap}"
            )
            self.supervisor.add("kafka", self._start_kafka)
        admin = make_admin(self.admin_access, "rls-launcher")
        try:
            if self.security is not None:
                provision(admin, self.security)
            ensure_topics(admin, PLATFORM_TOPICS)
        finally:
            admin.close()
        self._start_services(var)
        self._wait_ready()
        info = self._load_demo_and_describe(var)
        info["ready_after_s"] = round(time.monotonic() - started, 1)
        self.supervisor.watch()
        return info

    def _start_kafka(self) -> subprocess.Popen[bytes]:
        assert self.kafka is not None and self.supervisor is not None
        self.kafka.start(timeout=self.settings.ready_timeout_s)
        assert self.kafka.process is not None
        return self.kafka.process

    def _start_services(self, var: Path) -> None:
        self.urls = service_urls()
        # how services find each other, and the demo's policy of record: the LSSSS arts. 17-27.3 the platform was
        # built around (decisions dated after 2024-07-01 say `regime_superseded`) — unless configured otherwise
        defaults = {
            "REFERRAL_PUBLIC_URL": self.urls["referral"],
            "REFERRAL_AGREEMENTS_URL": self.urls["agreements"],
            "REFERRAL_CONSENT_URL": self.urls["consent"],
            "AUDIT_CONSENT_URL": self.urls["consent"],
            "CONSENT_REGIME": "LSSSS_17_27_3",
        }
        env = {**defaults, **os.environ, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "RLS_VAR_DIR": str(var)}
        (var / "log").mkdir(parents=True, exist_ok=True)
        assert self.supervisor is not None
        for name in PROCESSES:
            kafka = self.kafka_environment(name) if name in SERVICES else {}  # the console has no Kafka principal
            self.supervisor.add(name, _service_starter(name, env | kafka, var / "log" / f"{name}.log"))

    def kafka_environment(self, service: str) -> dict[str, str]:
        """A secured local broker: the service's own principal (nothing to add otherwise)."""
        if self.security is None:
            return {}
        return service_environment(self.security, self.bootstrap, service)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.ready_timeout_s
        pending = dict(self.urls)
        with httpx.Client(timeout=2) as client:
            while pending and time.monotonic() < deadline:
                for name, url in list(pending.items()):
                    if self.process(name).poll() is not None:
                        raise LaunchError(f"service {name} exited; see var/log/{name}.log")
                    try:
                        if client.get(url + "/readyz").status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                time.sleep(0.2)
        if pending:
            raise LaunchError(f"not ready in time: {', '.join(pending)}")

    def _minter(self) -> Minter:
        """How the launcher signs its own calls: the given `mint` (an identity provider's keys, production mode),
        else the dev key."""
        if self.mint is not None:
            return self.mint
        key = load_dev_key(self.settings.signing_key_file)
        audience = self.settings.jwt_audience

        def mint(org: str, roles: list[str], sub: str) -> str:
            return mint_dev_token(key, org, roles, sub, audience, DEV_TOKEN_TTL)

        return mint

    def _load_demo_and_describe(self, var: Path) -> dict[str, Any]:
        mint = self._minter()

        def token(org: str, roles: list[str], sub: str = "demo-loader") -> str:
            return mint(org, roles, sub)

        network = demo.load_demo(self.urls, token, var / "demo.json", system_clock().date())
        info = {
            "services": self.urls,
            "kafka_bootstrap": self.bootstrap,
            "kafka_security": self.admin_access.security_protocol,
            "kafka_ca_file": None if self.security is None else str(self.security.ca_file),
            "event_store": {name: redacted(StoreLocation.of(name, var).url) for name in SERVICES},
            "mode": self.settings.mode,
            "demo": network,
            "dev_token": token(demo.CSSS, ["intake", "clinician", "coordinator"], "demo-worker"),
        }
        run_dir(self.settings).mkdir(parents=True, exist_ok=True)
        platform_file(self.settings).write_text(
            json.dumps({k: v for k, v in info.items() if k != "dev_token"}, indent=2)
        )
        return info

    def stop(self) -> None:
        """Services first (they flush their relays), then the broker — restarted ones included; nothing is left
        listening."""
        if self.supervisor is not None:
            self.supervisor.stop_all()
        platform_file(self.settings).unlink(missing_ok=True)


def _service_starter(name: str, env: dict[str, str], log_path: Path) -> Callable[[], subprocess.Popen[bytes]]:
    def start() -> subprocess.Popen[bytes]:
        with open(log_path, "ab") as log_file:
            return subprocess.Popen(
                [sys.executable, "-m", "services.cli", "serve", name],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    return start


def run(settings: RuntimeSettings, say: Any = print) -> None:
    """Starts the platform and blocks until SIGINT/SIGTERM (Ctrl-C or `rls stop`), then stops it all."""
    pid_file = launcher_pid_file(settings)
    if pid_file.exists() and _alive(int(pid_file.read_text() or 0)):
        raise LaunchError(f"the platform is already running (pid {pid_file.read_text()}); `rls stop` stops it")
    run_dir(settings).mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    platform = Platform(settings)
    try:
        info = platform.start(say)
        say(json.dumps(info, indent=2))
        say(f"ready in {info['ready_after_s']} s — Ctrl-C (or `rls stop`) stops every process")
        while not stop.wait(1.0):  # the supervisor's thread restarts what exits meanwhile
            pass
    finally:
        say("stopping…")
        platform.stop()
        pid_file.unlink(missing_ok=True)
        say("stopped")


def stop_running(settings: RuntimeSettings, timeout: float = 60.0) -> bool:
    """Asks a running `rls run` to stop and waits for it; when the launcher itself is gone, stops the processes it
    recorded. False when nothing was running."""
    pid_file = launcher_pid_file(settings)
    if not pid_file.exists():
        return bool(stop_recorded(processes_file(settings)))
    pid = int(pid_file.read_text() or 0)
    if not pid or not _alive(pid):
        pid_file.unlink(missing_ok=True)
        return bool(stop_recorded(processes_file(settings)))
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not _alive(pid)
