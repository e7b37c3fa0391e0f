"""`deploy/compose/`: the platform on one host with Docker Compose, in its production shape.

Apache Kafka (the official `apache/kafka` image, KRaft, one node) with SASL_SSL, SCRAM users and ACLs, PostgreSQL with
a database and a role per service (and the console's, for its revoked sessions), a one-shot job that creates the
topics and the principals of the ACL file, and each service as an API process and a worker process. Every secret is
a file under `deploy/compose/secrets/` (`rls deploy secrets` makes them), mounted as a Compose secret: the image's
entry point exports the files named like a variable (`/run/secrets/REFERRAL_CIPHER_KEY`); nothing secret is written
in these files.
"""

from __future__ import annotations

from typing import Any

from services.deploy import broker
from services.deploy.platform import (
    ACL_FILE_IN_IMAGE,
    COMPOSE,
    DATABASES,
    IMAGE,
    IMAGE_TAG,
    KAFKA_CA_PATH,
    KAFKA_VERSION,
    MEMORY_LIMIT_MIB,
    MEMORY_REQUEST_MIB,
    SERVICE_TOKEN,
    VAR_DIR,
    Process,
    SecretFile,
    SecretRef,
    callees,
    own_values,
    process_config,
    processes,
    service_config,
    shared_values,
)
from services.runtime.kafka_security import ADMIN
from services.runtime.registry import PROCESSES, SERVICES

PROJECT = "rls-referrals"
KAFKA_IMAGE = f"apache/kafka:{KAFKA_VERSION}"
POSTGRES_IMAGE = "postgres:15.14-bookworm"
CLUSTER_ID = "cmxzLXJlZmVycmFscy0x"
"""The KRaft cluster id (16 bytes, base64): fixed, so the broker's volume keeps its identity across `up`s."""
KAFKA_SECRETS = "/etc/kafka/secrets"
"""Where the apache/kafka image looks for its keystore and its credential files."""
ADMIN_PORT, EXTERNAL_PORT = 9094, 9095

KAFKA_CA = COMPOSE.kafka_ca.ref
KAFKA_KEYSTORE = SecretRef("kafka-broker", "broker.p12")
KAFKA_KEYSTORE_PASSWORD = SecretRef("kafka-broker", "keystore-password")
KAFKA_JAAS = SecretRef("kafka-broker", "jaas.conf")
KAFKA_ADMIN_PASSWORD = SecretRef("kafka-admin", "password")
POSTGRES_PASSWORD = SecretRef("postgres", "password")
POSTGRES_ROLES = "postgres-roles"

INSTALLATION_ENV = {
    "RLS_MODE": "production",
    "RLS_JWKS_URL": "${RLS_JWKS_URL:?the identity provider's JWKS URL}",
    "RLS_JWT_ISSUER": "${RLS_JWT_ISSUER:?the identity provider's issuer (iss)}",
}
"""Every process: production mode, with the identity provider the operator names (`docker compose` refuses to start
without them)."""
INSTALLATION_SERVICE_ENV = {
    "referral": {
        "REFERRAL_PUBLIC_URL": "${RLS_REFERRAL_PUBLIC_URL:-http://localhost:8001}",
        "REFERRAL_SERVICE_TOKEN_FILE": SERVICE_TOKEN.path,
    },
    "notifications": {
        "NOTIFICATIONS_KAFKA_CLIENT_BOOTSTRAP": f"${{RLS_KAFKA_EXTERNAL_HOST:-localhost}}:{EXTERNAL_PORT}",
    },
    "console": {
        "CONSOLE_PUBLIC_URL": "${RLS_CONSOLE_PUBLIC_URL:-http://localhost:8000}",
        "CONSOLE_OIDC_ISSUER": "${RLS_OIDC_ISSUER:?the identity provider's OpenID issuer URL, for the console}",
        "CONSOLE_OIDC_CLIENT_ID": "${RLS_CONSOLE_OIDC_CLIENT_ID:?the console's client id at the identity provider}",
    },
}
DATABASE = {"postgres": {"condition": "service_healthy"}}
"""What a process keeping tables waits for (every service with an event store, the console)."""
BROKER = {"kafka-setup": {"condition": "service_completed_successfully"}}
"""What a service waits for: the brokers with its principal and topics (the console has no Kafka client)."""
INSTALLATION_FILES = {"referral": {"REFERRAL_SERVICE_TOKEN_FILE": SERVICE_TOKEN}}
DATABASE_NETWORK = "database"
"""PostgreSQL's network, internal (no route out), joined only by the processes keeping tables; every other container
is on the default network alone."""
LOOPBACK = "127.0.0.1"
"""Where the APIs are published on the host: plain HTTP with an unauthenticated /metrics, reached from outside only
through the operator's TLS reverse proxy on the same host (deploy/README.md)."""


def secret_name(ref: SecretRef) -> str:
    return f"{ref.name}-{ref.key}".replace(".", "-")


def secret_path(ref: SecretRef) -> str:
    """The file holding a secret, relative to the Compose file."""
    return f"./secrets/{ref.name}/{ref.key}"


def kafka_properties() -> dict[str, str]:
    """The broker's settings: its listeners here (services on SASL_SSL, establishments on EXTERNAL, the super user
    and the broker itself on INTERNAL, all TLS; the controller on PLAIN), then the platform's settings and policy,
    taken from the embedded broker (`services/deploy/broker.py`)."""
    external = f"${{RLS_KAFKA_EXTERNAL_HOST:-localhost}}:{EXTERNAL_PORT}"
    return {
        "node.id": "1",
        "process.roles": "broker,controller",
        "listeners": f"SASL_SSL://:9092,CONTROLLER://:9093,INTERNAL://:{ADMIN_PORT},EXTERNAL://:{EXTERNAL_PORT}",
        "advertised.listeners": f"SASL_SSL://kafka:9092,INTERNAL://kafka:{ADMIN_PORT},EXTERNAL://{external}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT,INTERNAL:SASL_SSL,"
        "EXTERNAL:SASL_SSL",
        "inter.broker.listener.name": "INTERNAL",
        "controller.listener.names": "CONTROLLER",
        "controller.quorum.voters": "1@kafka:9093",
        "log.dirs": "/var/lib/kafka/data",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.internal.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "ssl.keystore.type": "PKCS12",
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": f"{KAFKA_SECRETS}/{KAFKA_CA.key}",
        **broker.cluster_properties(1),
        **broker.authorisation_policy(),
    }


IMAGE_VARIABLES = {
    "CLUSTER_ID": CLUSTER_ID,
    "KAFKA_SSL_KEYSTORE_FILENAME": KAFKA_KEYSTORE.key,
    "KAFKA_SSL_KEYSTORE_CREDENTIALS": KAFKA_KEYSTORE_PASSWORD.key,
    "KAFKA_SSL_KEY_CREDENTIALS": KAFKA_KEYSTORE_PASSWORD.key,
    "KAFKA_OPTS": f"-Djava.security.auth.login.config={KAFKA_SECRETS}/{KAFKA_JAAS.key}",
    "KAFKA_HEAP_OPTS": "-Xms512m -Xmx512m",
}
"""The apache/kafka image's own variables (not broker settings): its keystore and credential files under
/etc/kafka/secrets, and the JAAS file holding the super user's password."""


def _secret(ref: SecretRef, target: str) -> dict[str, str]:
    return {"source": secret_name(ref), "target": target}


def _kafka() -> dict[str, Any]:
    files = (KAFKA_KEYSTORE, KAFKA_KEYSTORE_PASSWORD, KAFKA_JAAS, KAFKA_CA)
    return {
        "image": KAFKA_IMAGE,
        "hostname": "kafka",
        "environment": IMAGE_VARIABLES | broker.docker_env(kafka_properties()),
        "secrets": [_secret(ref, f"{KAFKA_SECRETS}/{ref.key}") for ref in files],
        "volumes": ["kafka-data:/var/lib/kafka/data"],
        "ports": [f"{EXTERNAL_PORT}:{EXTERNAL_PORT}"],
        "healthcheck": {
            "test": ["CMD", "bash", "-c", f"</dev/tcp/127.0.0.1/{ADMIN_PORT}"],
            "interval": "5s",
            "timeout": "3s",
            "retries": 30,
        },
        "restart": "unless-stopped",
    }


POSTGRES_SERVER_SETTINGS = {
    "shared_buffers": "${RLS_POSTGRES_SHARED_BUFFERS:-2GB}",
    "shared_preload_libraries": "pg_prewarm",
}
"""The server's own cache sized for the stores (the image's default is 128 MB: at a million referrals the clock tick's
index pages are read from disk, 0.3 s a tick, where a cache holding them ticked in 0.12–0.2 s), and the buffers it
held saved at shutdown and loaded again at start (`pg_prewarm`'s autoprewarm: 2.5 s a tick right after a restart
without it)."""


def _postgres() -> dict[str, Any]:
    roles = [_secret(SecretRef(POSTGRES_ROLES, name), f"/run/secrets/{POSTGRES_ROLES}/{name}") for name in DATABASES]
    return {
        "image": POSTGRES_IMAGE,
        "command": ["postgres", *(arg for item in POSTGRES_SERVER_SETTINGS.items() for arg in ("-c", "=".join(item)))],
        "environment": {"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres-password"},
        "secrets": [_secret(POSTGRES_PASSWORD, "postgres-password"), *roles],
        "networks": [DATABASE_NETWORK],
        "volumes": [
            "postgres-data:/var/lib/postgresql/data",
            "./postgres/init-roles.sh:/docker-entrypoint-initdb.d/10-init-roles.sh:ro",
        ],
        "healthcheck": {
            "test": ["CMD", "pg_isready", "--username=postgres", "--dbname=postgres"],
            "interval": "5s",
            "timeout": "3s",
            "retries": 30,
        },
        "restart": "unless-stopped",
    }


def kafka_users() -> list[str]:
    """The principals of the ACL file the topics job gives a password (every one: Compose has no User Operator)."""
    from services.common.kafka_acls import load_acl_file
    from services.contract.topics import ORG_NAMESPACE

    return list(load_acl_file(org_namespace=ORG_NAMESPACE).principals)


def _kafka_setup() -> dict[str, Any]:
    passwords = [_secret(SecretRef(user, "password"), f"/run/secrets/kafka-users/{user}") for user in kafka_users()]
    return _rls_container() | {
        "command": [
            "deploy",
            "kafka-setup",
            f"--bootstrap=kafka:{ADMIN_PORT}",
            f"--ca-file={KAFKA_CA_PATH}",
            f"--acl-file={ACL_FILE_IN_IMAGE}",
            f"--admin={ADMIN}",
            "--admin-password-file=/run/secrets/kafka-admin-password",
            "--passwords-dir=/run/secrets/kafka-users",
            "--brokers=1",
        ],
        "secrets": [
            _secret(KAFKA_ADMIN_PASSWORD, "kafka-admin-password"),
            _secret(KAFKA_CA, KAFKA_CA_PATH),
            *passwords,
        ],
        "depends_on": {"kafka": {"condition": "service_healthy"}},
        "restart": "on-failure",
    }


def _rls_container() -> dict[str, Any]:
    """What every container of the platform's image shares: read-only root, no capabilities, a writable var, and the
    memory the Kubernetes manifests give a pod."""
    return {
        "image": f"${{RLS_IMAGE:-{IMAGE}:{IMAGE_TAG}}}",
        "build": {"context": "../..", "dockerfile": "deploy/image/Dockerfile"},
        "read_only": True,
        "tmpfs": ["/tmp", VAR_DIR],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "deploy": {
            "resources": {
                "limits": {"memory": f"{MEMORY_LIMIT_MIB}M"},
                "reservations": {"memory": f"{MEMORY_REQUEST_MIB}M"},
            }
        },
    }


def _process(process: Process) -> dict[str, Any]:
    service = process.service
    config, own = service_config(service, COMPOSE), process_config(process, COMPOSE)
    files: dict[str, SecretFile] = config.files | INSTALLATION_FILES.get(service, {})
    environment = INSTALLATION_ENV | INSTALLATION_SERVICE_ENV.get(service, {}) | process.switches() | own.values
    container = _rls_container() | {
        "command": list(process.command),
        "env_file": ["config/platform.env", f"config/{service}.env"],  # the service's: shared by its processes
        "environment": environment,
        "secrets": [_secret(ref, env) for env, ref in (config.secrets | own.secrets).items()]
        + [_secret(file.ref, file.path) for file in files.values()],
        "depends_on": (DATABASE if service in DATABASES else {})
        | (BROKER if service in SERVICES else {})
        | {callee: {"condition": "service_healthy"} for callee in callees(service)},
        "restart": "unless-stopped",
    }
    if service in DATABASES:
        container["networks"] = ["default", DATABASE_NETWORK]
    if process.scalable or process.role == "single":
        container["ports"] = [f"{LOOPBACK}:{process.port}:{process.port}"]
    return container


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = {"postgres": _postgres(), "kafka": _kafka(), "kafka-setup": _kafka_setup()}
    for process in processes():
        services[process.name.removeprefix("rls-")] = _process(process)
    return services


def secrets_used(services: dict[str, Any]) -> list[SecretRef]:
    """Every secret the services mount, in first-use order (each is one file under secrets/)."""
    known = {secret_name(ref): ref for ref in all_secret_refs()}
    used = [secret["source"] for container in services.values() for secret in container.get("secrets", [])]
    return [known[name] for name in dict.fromkeys(used)]


def all_secret_refs() -> list[SecretRef]:
    """Every secret the Compose platform knows (what `rls deploy secrets` makes, and the service token it cannot)."""
    refs = [KAFKA_CA, KAFKA_KEYSTORE, KAFKA_KEYSTORE_PASSWORD, KAFKA_JAAS, KAFKA_ADMIN_PASSWORD, POSTGRES_PASSWORD]
    refs += [SecretRef(POSTGRES_ROLES, name) for name in DATABASES]
    refs += [SecretRef(user, "password") for user in kafka_users()]
    for service in PROCESSES:
        config = service_config(service, COMPOSE)
        refs += list(config.secrets.values()) + [file.ref for file in config.files.values()]
    refs += [ref for process in processes() for ref in process_config(process, COMPOSE).secrets.values()]
    refs.append(SERVICE_TOKEN.ref)
    unique: dict[str, SecretRef] = {}
    for ref in refs:
        unique.setdefault(secret_name(ref), ref)
    return list(unique.values())


def compose_document() -> dict[str, Any]:
    services = compose_services()
    return {
        "name": PROJECT,
        "services": services,
        "networks": {DATABASE_NETWORK: {"internal": True}},
        "volumes": {"postgres-data": {}, "kafka-data": {}},
        "secrets": {secret_name(ref): {"file": secret_path(ref)} for ref in secrets_used(services)},
    }


def env_files() -> dict[str, dict[str, str]]:
    """`config/platform.env` (what every service shares) and `config/<service>.env`, by file name."""
    files = {"platform.env": shared_values(COMPOSE)}
    files |= {f"{service}.env": own_values(service, COMPOSE) for service in PROCESSES}
    return files


def postgres_url(service: str, password: str, database: str | None = None, schema: str | None = None) -> str:
    """A service's database on the Compose PostgreSQL (its role owns it)."""
    query = f"?schema={schema}" if schema else ""
    return f"postgresql://{service}:{password}@postgres:5432/{database or service}{query}"
