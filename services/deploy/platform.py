"""The deployed platform as one model: its processes, who calls whom, and where each setting's value comes from.

Compose and the Kubernetes manifests are rendered from this model (`services/deploy/compose.py`, `kubernetes.py`),
so a setting, a secret or a process is described once. Values the operator provides per installation (the identity
provider, public URLs) are left to the Compose variables and the Kustomize overlays, and checked there by tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Literal

from services.common.kafka_security import KafkaClientSettings
from services.deploy.broker import replication
from services.deploy.settings_env import Setting, env_text, service_settings
from services.runtime.kafka_security import CREDENTIALS_ISSUER, ISSUER_SERVICE, service_principal
from services.runtime.registry import PROCESSES, SERVICES, settings_class
from services.runtime.settings import RuntimeSettings

PART_OF = "rls-referrals"
IMAGE = "rls-referrals"
IMAGE_TAG = version("rls-referrals")
KAFKA_VERSION: str = RuntimeSettings.model_fields["kafka_version"].default
"""The same Apache Kafka as the embedded broker's."""
PRODUCTION_BROKERS = 3
"""Brokers of the production Kafka cluster (Strimzi's `k8s/kafka/`): three copies of every topic, two in sync."""
KAFKA_CLUSTER = "rls-kafka"
"""The Strimzi `Kafka` resource's name (its bootstrap service is `<name>-kafka-bootstrap`)."""
VAR_DIR = "/var/lib/rls"
"""A writable directory in every container (an empty volume): the root file system is read-only."""
ACL_FILE_IN_IMAGE = "/opt/rls/deploy/kafka/acls.toml"
SECRETS_ROOT = "/var/run/secrets/rls"
"""Where secret files (the Kafka CA, the referral service's token, the dev signing key) are mounted."""
MEMORY_REQUEST_MIB, MEMORY_LIMIT_MIB = 256, 512
"""Memory of every process of the platform's image, in MiB: the same cap in Kubernetes and in Compose."""
POSTGRES_PORT = 5432

Role = Literal["api", "worker", "single"]

SINGLE_PROCESS: Mapping[str, str] = {
    "audit": "its API rebuilds the audit database on demand (replay) and publishes its store's checkpoints: one "
    "process, like its outbox",
    "standards": "its faust worker's rows sum referrals of every partition: one worker, whose API follows the board",
}
"""Services run as one process (API and background loops together), and why."""


@dataclass(frozen=True)
class Process:
    """One kind of process of a service: its API (may have replicas), or the process running its outbox relay,
    consumers and periodic loops (exactly one per event store: nothing elects a leader yet), or both at once."""

    service: str
    role: Role

    @property
    def name(self) -> str:
        return f"rls-{self.service}-worker" if self.role == "worker" else f"rls-{self.service}"

    @property
    def scalable(self) -> bool:
        return self.role == "api"

    @property
    def port(self) -> int:
        return PROCESSES[self.service]

    @property
    def command(self) -> tuple[str, ...]:
        """Arguments of `rls` (the image's entry point). A worker serves its API too, for its probes only: no
        Service routes to it. `rls relay <service>` runs an outbox relay alone where the service has one."""
        return ("serve", self.service)

    def switches(self) -> dict[str, str]:
        """The `<SERVICE>_*_ENABLED` settings: an API runs no loop, a worker or single process runs them all."""
        on = self.role != "api"
        return {name: env_text(on) for name in loop_switches(self.service)}

    @property
    def serves_credentials(self) -> bool:
        """Whether this process answers establishments' credential requests (`/v1/kafka-credentials`): the
        notifications API, never its worker (webhook deliveries to establishments' URLs; nothing routes requests to
        its API, which without the issuer answers that no credentials are issued)."""
        return self.service == ISSUER_SERVICE and self.role != "worker"


def processes() -> list[Process]:
    """Every process the platform runs, in registry order, an API before its worker. What has no event store (the
    console) has no worker: it is only an API, as many replicas as wanted."""
    result: list[Process] = []
    for name in PROCESSES:
        roles: tuple[Role, ...] = ("api",) if name not in SERVICES else ("api", "worker")
        result += [Process(name, role) for role in (("single",) if name in SINGLE_PROCESS else roles)]
    return result


def loop_switches(service: str) -> list[str]:
    """The boolean settings that turn background loops on (relay, consumers, schedulers)."""
    return [s.env for s in service_settings(service) if s.field.endswith("_enabled") and isinstance(s.default, bool)]


def callees(service: str) -> list[str]:
    """The services whose URL this service's settings hold (`<other>_url`): the ones it calls over HTTP."""
    fields = {s.field for s in service_settings(service)}
    return [other for other in SERVICES if other != service and f"{other}_url" in fields]


def callers(service: str) -> list[str]:
    return [other for other in PROCESSES if service in callees(other)]


@dataclass(frozen=True)
class SecretRef:
    """A key of a secret: a Kubernetes `Secret`, or a file `secrets/<name>/<key>` beside the Compose file."""

    name: str
    key: str


@dataclass(frozen=True)
class SecretFile:
    """A secret mounted as a file (its path is the setting's value)."""

    ref: SecretRef
    path: str


def has_store(service: str) -> bool:
    """Whether a service keeps an event store (the standards board keeps none: it is rebuilt from the topics)."""
    return "event_store" in settings_class(service).model_fields


STORES = tuple(service for service in SERVICES if has_store(service))
"""The services with an event store."""


def store_secret(service: str) -> str:
    return f"rls-{service}-store"


ISSUER_USERNAME = f"{ISSUER_SERVICE.upper()}_KAFKA_ISSUER_USERNAME"
ISSUER_PASSWORD = f"{ISSUER_SERVICE.upper()}_KAFKA_ISSUER_PASSWORD"
ISSUER_SETTINGS = frozenset({ISSUER_USERNAME, ISSUER_PASSWORD})
"""The credentials issuer's principal: given per process, not per service (see `process_config`)."""
NOT_AN_ISSUER = (
    "this process serves no credential requests: the issuer principal may ALTER the cluster (any user's password, "
    "any ACL), so only the process answering /v1/kafka-credentials holds it"
)


def secret_ref(env: str, service: str) -> SecretRef | None:
    """Where a secret setting's value comes from, by the variable's name (the same secret wherever it is read: the
    audit service reads the other services' store settings under their own names)."""
    owner, _, rest = env.partition("_")
    owner = owner.lower()
    if owner in SERVICES and rest in ("CIPHER_KEY", "EVENT_STORE"):
        return SecretRef(store_secret(owner), rest.lower().replace("_", "-"))
    named = {
        "AUDIT_DATABASE": SecretRef(store_secret("audit"), "database"),
        "REFERRAL_VAULT_KEY": SecretRef("rls-referral-vault", "vault-key"),
        "CONSOLE_SESSION_KEY": SecretRef("rls-console", "session-key"),
        "CONSOLE_SESSION_STORE": SecretRef("rls-console", "session-store"),
        "KAFKA_SASL_PASSWORD": SecretRef(service_principal(service), "password"),
        ISSUER_PASSWORD: SecretRef(CREDENTIALS_ISSUER, "password"),
    }
    return named.get(env)


KAFKA_CA_PATH = f"{SECRETS_ROOT}/kafka-ca/ca.crt"
SERVICE_TOKEN = SecretFile(SecretRef("rls-referral-service-token", "token"), f"{SECRETS_ROOT}/service-token/token")
DEV_SIGNING_KEY = SecretFile(SecretRef("rls-dev-signing-key", "key"), f"{SECRETS_ROOT}/dev-signing-key/key")

LEFT_UNSET: Mapping[str, str] = {
    "AUDIT_CONSENT_TOKEN": "only `rls audit decisions recheck` run by hand reads it (the API uses the caller's token)",
    "REFERRAL_VAULT_URL": "the vault follows the event store (the same database)",
    "CONSOLE_OIDC_CLIENT_SECRET": "the console signs in as a public client (PKCE); a confidential client adds it "
    "from a Secret",
    "CONSOLE_OIDC_RESOURCE": "only for identity providers that need an RFC 8707 resource to issue the API's audience",
}
"""Settings no deployment sets, and why."""

NO_KAFKA = "the console never connects to Kafka: it calls the services' APIs with the user's token"
KAFKA_SETTINGS = frozenset(
    str(field.validation_alias) for field in KafkaClientSettings.model_fields.values() if field.validation_alias
)


def left_unset(service: str) -> dict[str, str]:
    """What no deployment sets for `service`, and why (a process without an event store has no Kafka client)."""
    if service in SERVICES:
        return dict(LEFT_UNSET)
    return dict(LEFT_UNSET) | dict.fromkeys(KAFKA_SETTINGS, NO_KAFKA)


@dataclass(frozen=True)
class Target:
    """Where the platform runs: how a process reaches the others, the brokers, and its secret files."""

    name: str
    service_host: Mapping[str, str]
    kafka_bootstrap: str
    kafka_ca: SecretFile
    issues_kafka_credentials: bool
    brokers: int
    """Brokers of the shape this target renders (Compose: its one broker; Kubernetes' base: production's three, the
    dev overlay brings it down to one): the copies of the topics a service creates with an explicit factor."""
    unset: Mapping[str, str] = field(default_factory=dict)
    """Settings this target leaves unset on purpose (beyond `LEFT_UNSET`), and why."""

    def url(self, service: str) -> str:
        return f"http://{self.service_host[service]}:{PROCESSES[service]}"


STRIMZI_OWNS_USERS = (
    "Strimzi's User Operator owns the Kafka users: an establishment gets a KafkaUser made from the organisation "
    "template (`rls deploy org-user <org_id>`), so the service issues none"
)

COMPOSE = Target(
    "compose",
    {name: name for name in PROCESSES},
    "kafka:9092",
    SecretFile(SecretRef("kafka-broker", "ca.pem"), KAFKA_CA_PATH),  # made by `rls deploy secrets`
    issues_kafka_credentials=True,
    brokers=1,
)
KUBERNETES = Target(
    "kubernetes",
    {name: f"rls-{name}" for name in PROCESSES},
    f"{KAFKA_CLUSTER}-kafka-bootstrap:9093",
    SecretFile(SecretRef(f"{KAFKA_CLUSTER}-cluster-ca-cert", "ca.crt"), KAFKA_CA_PATH),  # made by Strimzi
    issues_kafka_credentials=False,
    brokers=PRODUCTION_BROKERS,
    unset=dict.fromkeys(sorted(ISSUER_SETTINGS), STRIMZI_OWNS_USERS),
)

PER_INSTALLATION = frozenset(
    {
        "RLS_MODE",
        "RLS_JWKS_URL",
        "RLS_JWT_ISSUER",
        "RLS_DEV_KEY_FILE",
        "REFERRAL_PUBLIC_URL",
        "REFERRAL_SERVICE_TOKEN_FILE",
        "NOTIFICATIONS_KAFKA_CLIENT_BOOTSTRAP",
        "CONSOLE_PUBLIC_URL",
        "CONSOLE_OIDC_ISSUER",
        "CONSOLE_OIDC_CLIENT_ID",
    }
)
"""Settings each installation decides (Compose variables, Kustomize overlays): the identity provider and the
addresses the outside world uses. The base leaves them out; tests check that every overlay sets them."""


@dataclass(frozen=True)
class ServiceConfig:
    """A service's settings on a target: plain values, secret references, secret files (their paths are values
    too), and what is left unset."""

    values: dict[str, str]
    secrets: dict[str, SecretRef]
    files: dict[str, SecretFile]
    unset: dict[str, str]


def _value(service: str, setting: Setting, target: Target) -> str | None:
    """The deployment's value of a non-secret setting (None: keep it out)."""
    prefix = service.upper()
    field_name = setting.field
    deployed: dict[str, str] = {
        "RLS_VAR_DIR": VAR_DIR,
        "KAFKA_BOOTSTRAP_SERVERS": target.kafka_bootstrap,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_USERNAME": service_principal(service),
        f"{prefix}_HOST": "0.0.0.0",  # noqa: S104 -- inside its container, reached through its Service
        f"{ISSUER_SERVICE.upper()}_KAFKA_ACL_FILE": ACL_FILE_IN_IMAGE,
    }
    if target.issues_kafka_credentials:
        deployed[ISSUER_USERNAME] = CREDENTIALS_ISSUER
    if setting.env in deployed:
        return deployed[setting.env]
    if field_name == "replication_factor":  # the standards board's topics: as many copies as the broker gives its own
        return replication(target.brokers)["default.replication.factor"]
    if field_name.endswith("_url") and field_name.removesuffix("_url") in SERVICES:
        return target.url(field_name.removesuffix("_url"))
    if setting.env in PER_INSTALLATION or setting.default is None:
        return None
    return env_text(setting.default)


def service_config(service: str, target: Target) -> ServiceConfig:
    """Where each setting of `service` comes from on `target`, for every process of the service (switches and the
    issuer's settings excluded: they belong to the process, `process_config`)."""
    config = ServiceConfig({}, {}, {}, {})
    per_process = set(loop_switches(service)) | ISSUER_SETTINGS
    for setting in service_settings(service):
        if setting.env not in per_process:
            _place(service, setting, target, config)
    return config


def process_config(process: Process, target: Target) -> ServiceConfig:
    """The settings one process gets beyond its service's (`service_config`; the switches aside): the credentials
    issuer's principal, which only a process serving credential requests receives — not the notifications worker,
    which calls URLs the establishments supply."""
    config = ServiceConfig({}, {}, {}, {})
    for setting in service_settings(process.service):
        if setting.env not in ISSUER_SETTINGS:
            continue
        if process.serves_credentials:
            _place(process.service, setting, target, config)
        else:
            config.unset[setting.env] = target.unset.get(setting.env) or NOT_AN_ISSUER
    return config


def _place(service: str, setting: Setting, target: Target, config: ServiceConfig) -> None:
    """Records where one setting of `service` comes from on `target`: a reason to leave it unset, a secret, a
    secret file or a value."""
    ref = secret_ref(setting.env, service) if setting.secret or _holds_credentials(setting) else None
    reason = target.unset.get(setting.env) or left_unset(service).get(setting.env)
    if reason:
        config.unset[setting.env] = reason
    elif ref is not None:
        config.secrets[setting.env] = ref
    elif setting.env == "KAFKA_SSL_CAFILE":
        config.files[setting.env] = target.kafka_ca
        config.values[setting.env] = target.kafka_ca.path
    elif (value := _value(service, setting, target)) is not None:
        config.values[setting.env] = value
    elif setting.env not in PER_INSTALLATION:
        raise ValueError(f"{service}: no value, secret or reason for {setting.env}")


def _holds_credentials(setting: Setting) -> bool:
    """Database URLs carry their password: they are secrets although typed `str`."""
    return setting.field == "database" or setting.field.endswith("_store")


DATABASES = tuple(name for name in PROCESSES if any(_holds_credentials(s) for s in service_settings(name)))
"""The processes keeping tables in PostgreSQL (the services' event stores, the console's revoked sessions): each has a
role and a database of its own, and reaches PostgreSQL."""


def shared_values(target: Target) -> dict[str, str]:
    """The values every service has in common (one `rls-platform` ConfigMap or env file)."""
    configs = [service_config(service, target).values for service in PROCESSES]
    first = configs[0]
    return {key: value for key, value in first.items() if all(c.get(key) == value for c in configs[1:])}


def own_values(service: str, target: Target) -> dict[str, str]:
    """The values of `service` that are not shared by every service."""
    shared = shared_values(target)
    return {k: v for k, v in service_config(service, target).values.items() if k not in shared}


JWKS_ONLY = "production verifies tokens with the identity provider's JWKS: no dev signing key"
INSTALLATION_UNSET: Mapping[str, Mapping[str, str]] = {
    "compose": {"RLS_DEV_KEY_FILE": JWKS_ONLY},
    "prod": {"RLS_DEV_KEY_FILE": JWKS_ONLY},
    "dev": {
        "RLS_JWKS_URL": "dev mode verifies tokens with the dev signing key (a Secret shared by every pod)",
        "RLS_JWT_ISSUER": "dev mode: the dev issuer",
        "REFERRAL_SERVICE_TOKEN_FILE": "dev mode mints the service's own token with the dev signing key",
        "CONSOLE_OIDC_ISSUER": "dev mode signs people in with the dev sign-in (a demo organisation and roles)",
        "CONSOLE_OIDC_CLIENT_ID": "dev mode signs people in with the dev sign-in (no identity provider)",
    },
}
"""Per-installation settings an installation leaves unset on purpose (Compose, and each Kustomize overlay)."""
