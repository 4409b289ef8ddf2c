"""Apache Kafka, one broker that is also its own KRaft controller, under run/kafka.

The broker's jars come from Maven Central through scripts/kafka/pom.xml and are copied once per
version into .cache/kafka/<version>/libs (Maven's own repository is kept under .cache/maven), so
only the first start of a version downloads anything.
"""

from __future__ import annotations

import base64
import shutil
import uuid

from kafka import KafkaAdminClient

from hz45.services.base import Service
from hz45.services.process import run_step
from hz45.settings import ROOT

POM = ROOT / "scripts" / "kafka" / "pom.xml"
STORAGE_TOOL = "kafka.tools.StorageTool"
BROKER = "kafka.Kafka"
NODE_ID = 1

LOG4J2 = """\
# Written by hz45.services.kafka: everything to stdout, which the launcher sends to run/kafka/kafka.log.
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.change.name = state.change.logger
logger.change.level = warn
"""


class Kafka(Service):
    name = "kafka"
    start_timeout_s = 180.0

    @property
    def libs(self):
        return self.cache / "kafka" / self.conf.version / "libs"

    @property
    def datadir(self):
        return self.home / "data"

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if not (self.libs / ".complete").exists():
            self._fetch_jars()
        (self.home / "server.properties").write_text(self._server_properties())
        (self.home / "log4j2.properties").write_text(LOG4J2)
        if not (self.datadir / "meta.properties").exists():
            self._format_storage()

    def _fetch_jars(self) -> None:
        # Copied into a scratch folder first so an interrupted fetch never looks complete.
        partial = self.libs.with_name("libs.partial")
        shutil.rmtree(partial, ignore_errors=True)
        run_step(
            ["mvn", "-q", "-B", "-f", str(POM), f"-Dkafka.version={self.conf.version}",
             f"-Dmaven.repo.local={self.cache / 'maven'}", "dependency:copy-dependencies",
             f"-DoutputDirectory={partial}", "-DincludeScope=runtime"],
            self.proc.log_file, f"fetch Kafka {self.conf.version} jars from Maven Central",
        )
        shutil.rmtree(self.libs, ignore_errors=True)
        partial.rename(self.libs)
        (self.libs / ".complete").touch()

    def _server_properties(self) -> str:
        controller = f"{self.host}:{self.conf.controller_port}"
        props = {
            "process.roles": "broker,controller",
            "node.id": NODE_ID,
            "controller.quorum.voters": f"{NODE_ID}@{controller}",
            "listeners": f"PLAINTEXT://{self.address},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{self.address}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": self.datadir,
            # One broker: every internal topic has a single replica.
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "num.partitions": 1,
            # Small thread pools and cleaner buffer: the broker shares 2 cores with Spark and Ray.
            "num.network.threads": 2,
            "num.io.threads": 2,
            "log.cleaner.threads": 1,
            "log.cleaner.dedupe.buffer.size": 16 * 1024 * 1024,
        }
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def _java(self, main: str, *args: str, heap: str | None = None) -> list[str]:
        memory = [f"-Xmx{heap}", f"-Xms{heap}"] if heap else []
        return ["java", *memory, "-XX:+UseG1GC", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
                "-cp", f"{self.libs}/*", main, *args]

    def _format_storage(self) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        run_step(self._java(STORAGE_TOOL, "format", "--cluster-id", cluster_id,
                            "--config", str(self.home / "server.properties"), "--ignore-formatted"),
                 self.proc.log_file, "format Kafka storage")

    def argv(self) -> list[str]:
        return self._java(BROKER, str(self.home / "server.properties"), heap=self.conf.heap)

    def check(self) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.address, client_id="hz45-health",
                                 request_timeout_ms=5000, bootstrap_timeout_ms=5000)
        try:
            admin.list_topics()
        finally:
            admin.close()
