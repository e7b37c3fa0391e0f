"""A single-node Apache Kafka broker (KRaft, no ZooKeeper) run from jars fetched from Maven Central."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from kafka.errors import KafkaError

from services.common.kafka import make_admin
from services.common.kafka_security import KafkaAccess
from services.runtime.kafka_security import ADMIN, BrokerSecurity

log = logging.getLogger(__name__)

POM = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "pom.xml"
READY_MARKER = ".complete"

PLAINTEXT_LISTENERS = """\
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
"""

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
{listeners}controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
log.dirs={log_dirs}
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=-1
"""

LOG4J2 = """\
rootLogger.level=WARN
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName={log_file}
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
logger.authentication.name=org.apache.kafka.common.network.Selector
logger.authentication.level=INFO
"""
"""Warnings, and failed authentications (who tried from where, never with what password)."""


class KafkaLaunchError(RuntimeError):
    """The broker could not be fetched, formatted or started."""


def ensure_jars(version: str, cache_dir: Path) -> Path:
    """The broker's jars, fetched once with Maven into `<cache>/kafka-<version>/libs`."""
    libs = cache_dir / f"kafka-{version}" / "libs"
    if (libs / READY_MARKER).exists():
        return libs
    if shutil.which("mvn") is None:
        raise KafkaLaunchError("Maven (mvn) is needed to fetch Apache Kafka; or set KAFKA_BOOTSTRAP_SERVERS")
    staging = libs.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    log.info("fetching Apache Kafka %s from Maven Central into %s", version, libs)
    result = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-Dkafka.version={version}",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise KafkaLaunchError(f"mvn could not fetch Kafka {version}: {result.stdout[-2000:]}{result.stderr[-2000:]}")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    (libs / READY_MARKER).touch()
    return libs


def find_java(java_home: Path | None) -> str:
    """`$JAVA_HOME/bin/java` when given, else `java` on the PATH."""
    candidate = java_home / "bin" / "java" if java_home else None
    if candidate and candidate.exists():
        return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise KafkaLaunchError("Java 17+ is needed to run the local Kafka broker")
    return found


class LocalKafka:
    """One broker-and-controller process bound to 127.0.0.1, data under `data_dir`; with `security`, clients must
    authenticate over TLS and are authorised by ACLs (a data directory keeps the shape it was formatted with)."""

    def __init__(
        self,
        libs: Path,
        data_dir: Path,
        port: int,
        controller_port: int,
        heap: str = "512m",
        java: str = "java",
        security: BrokerSecurity | None = None,
    ) -> None:
        self.libs = libs
        self.java = java
        self.data_dir = data_dir.resolve()
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self.security = security
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def access(self) -> KafkaAccess:
        """How the launcher reaches the broker: anonymously, or as the super user when it is secured."""
        if self.security is None:
            return KafkaAccess(self.bootstrap)
        return self.security.access(self.bootstrap, ADMIN)

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    def _java_cmd(self, main: str, *args: str) -> list[str]:
        return [
            self.java,
            f"-Xmx{self.heap}",
            "-cp",
            f"{self.libs}/*",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            main,
            *args,
        ]

    def _configure(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        properties = self.data_dir / "server.properties"
        listeners = (
            PLAINTEXT_LISTENERS.format(port=self.port, controller_port=self.controller_port)
            if self.security is None
            else self.security.listener_properties(self.port, self.controller_port)
        )
        properties.touch(mode=0o600)  # the secure shape holds the super user's password
        properties.write_text(
            SERVER_PROPERTIES.format(
                listeners=listeners,
                port=self.port,
                controller_port=self.controller_port,
                log_dirs=self.data_dir / "data",
            )
        )
        (self.data_dir / "log4j2.properties").write_text(LOG4J2.format(log_file=self.log_file))
        self._format_once(properties)
        return properties

    def _format_once(self, properties: Path) -> None:
        """Formats the storage the first time (with the super user's SCRAM credential when secured). A directory
        formatted for the other shape is refused: its topics and the event stores that fed them belong together."""
        shape, marker = ("plaintext" if self.security is None else "sasl_ssl"), self.data_dir / "formatted-for"
        if (self.data_dir / "data" / "meta.properties").exists():
            formatted = marker.read_text() if marker.exists() else "plaintext"
            if formatted != shape:
                raise KafkaLaunchError(
                    f"{self.data_dir} holds a {formatted} broker; to run {shape}, use another RLS_VAR_DIR "
                    "(the event stores beside it were relayed to that broker) or remove this one"
                )
            return
        result = subprocess.run(
            self._java_cmd(
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={_cluster_id()}",  # ids may start with "-": never a separate argument
                "-c",
                str(properties),
                "--standalone",
                *(self.security.format_arguments() if self.security is not None else []),
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            output = result.stdout[-1000:] + result.stderr[-1000:]
            if self.security is not None:
                output = self.security.redact(output)
            raise KafkaLaunchError(f"kafka-storage format failed: {output}")
        marker.write_text(shape)

    def start(self, timeout: float = 60.0) -> None:
        properties = self._configure()
        with open(self.data_dir / "stdout.log", "ab") as out:
            self.process = subprocess.Popen(
                self._java_cmd("kafka.Kafka", str(properties)),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.data_dir / "broker.pid").write_text(str(self.process.pid))
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise KafkaLaunchError(f"Kafka exited with code {self.process.returncode}; see {self.log_file}")
            try:
                admin = make_admin(self.access, "rls-launcher")
            except KafkaError:
                time.sleep(0.3)
                continue
            try:
                admin.list_topics()
                return
            except KafkaError:
                time.sleep(0.3)
            finally:
                admin.close()
        raise KafkaLaunchError(f"Kafka not ready after {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (what `random-uuid` prints)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
