"""A real single-node Apache Kafka broker (KRaft) on 127.0.0.1, from Maven Central jars and Java 17.

``ensure_jars`` resolves one exact Kafka release into a cache outside the repository (reused across
runs and checkouts); ``LocalBroker`` formats its data dir once and starts/stops the broker.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from loyalty_stream.config.settings import KAFKA_VERSION, Settings
from loyalty_stream.tools.procs import pid_alive, spawn, stop, wait_until

_LOG4J_VERSION = "2.24.3"
_DEPENDENCY_PLUGIN = "3.6.1"
_STARTED = "Kafka Server started"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.loyalty-stream</groupId><artifactId>kafka-broker</artifactId>
  <version>{kafka}</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>{log4j}</version></dependency>
  </dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>{plugin}</version>
    <configuration><outputDirectory>${{libdir}}</outputDirectory><includeScope>runtime</includeScope><prependGroupId>true</prependGroupId></configuration>
  </plugin></plugins></build>
</project>
"""

_LOG4J2 = """Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Logger:
      - name: kafka
        level: INFO
      - name: org.apache.kafka
        level: WARN
      - name: kafka.server.KafkaRaftServer
        level: INFO
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
"""


def ensure_jars(cache_dir: Path, version: str = KAFKA_VERSION) -> Path:
    """Return a folder with the broker's jars, fetching them from Maven Central the first time."""
    home = cache_dir / f"kafka-{version}"
    lib = home / "lib"
    done = home / ".complete"
    if done.exists():
        return lib
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs fetching at once share one download
        if done.exists():
            return lib
        if shutil.which("mvn") is None:
            raise RuntimeError("Maven (mvn) is needed to fetch Kafka's jars from Maven Central")
        (home / "pom.xml").write_text(_POM.format(kafka=version, log4j=_LOG4J_VERSION, plugin=_DEPENDENCY_PLUGIN))
        shutil.rmtree(lib, ignore_errors=True)
        result = subprocess.run(
            ["mvn", "-B", "-q", "dependency:copy-dependencies", f"-Dlibdir={lib}"],
            cwd=home,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"fetching Kafka {version} jars failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        (home / "log4j2.yaml").write_text(_LOG4J2)
        done.write_text(version)
    return lib


def _server_properties(port: int, controller_port: int, log_dir: Path) -> str:
    # log.index.size.max.bytes: every partition's offset and time indexes are sparse files of this size, mapped
    # into memory. The first entry written into one faults its pages in, and on ext4 the kernel zero-fills
    # the whole read-ahead window of the hole: with Kafka's 10 MiB that was a third of the broker's CPU in
    # memset for the first seconds of a new stack (~200 partitions), and the e2e first step's p99 at
    # 50 events/s went from 438 to 34 ms with 1 MiB, one run each (docs/benchmarks.md). 1 MiB still indexes
    # ~340 MB per segment before the segment rolls.
    return f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={log_dir}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=2097152
log.index.size.max.bytes=1048576
auto.create.topics.enable=false
"""


@dataclass
class LocalBroker:
    """One broker+controller node. Its data (log dirs, cluster id) lives in ``data_dir``."""

    data_dir: Path
    port: int = 9092
    controller_port: int = 9093
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "loyalty-stream")
    heap: str = "512m"
    version: str = KAFKA_VERSION
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, data_dir: Path | None = None) -> LocalBroker:
        return cls(
            data_dir=(data_dir or settings.data_dir / "kafka").resolve(),
            port=settings.kafka_port,
            controller_port=settings.controller_port,
            cache_dir=settings.kafka_cache_dir,
            heap=settings.kafka_heap,
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's JVM while this object runs it (benchmarks read its CPU time)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def _pidfile(self) -> Path:
        return self.data_dir / "broker.pid"

    def _java(self, lib: Path, *args: str, heap: str = "256m") -> list[str]:
        return ["java", f"-Xmx{heap}", "-cp", f"{lib}/*", *args]

    def _format(self, lib: Path) -> Path:
        props = self.data_dir / "server.properties"
        logs = self.data_dir / "logs"
        # Rewritten on every start so ports can change between runs; the log dir keeps its data.
        props.write_text(_server_properties(self.port, self.controller_port, logs))
        if not (logs / "meta.properties").exists():
            cluster_id = self.data_dir / "cluster.id"
            if not cluster_id.exists():
                cluster_id.write_text(_random_cluster_id())
            subprocess.run(
                self._java(
                    lib,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id.read_text().strip(),
                    "-c",
                    str(props),
                    "-g",
                ),
                check=True,
                capture_output=True,
            )
        return props

    def start(self, *, timeout: float = 90.0, tie_to_parent: bool = True) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stop_stale()
        lib = ensure_jars(self.cache_dir, self.version)
        props = self._format(lib)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        argv = [
            "java",
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={lib.parent / 'log4j2.yaml'}",
            "-cp",
            f"{lib}/*",
            "kafka.Kafka",
            str(props),
        ]
        self._proc = spawn(argv, log=self.log_path, tie_to_parent=tie_to_parent)
        self._pidfile.write_text(str(self._proc.pid))

        def started() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"Kafka exited with {self._proc.returncode}; see {self.log_path}")
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return _STARTED.encode() in log.read()

        wait_until(started, timeout=timeout, what=f"Kafka on {self.bootstrap} ({self.log_path})", interval=0.1)

    def stop(self, *, grace: float = 15.0) -> None:
        """A controlled shutdown (SIGTERM), kill -9 after ``grace`` seconds: its data survives either way."""
        if self._proc is not None:
            stop(self._proc, grace=grace)
            self._proc = None
        self._pidfile.unlink(missing_ok=True)

    def signal(self, sig: int) -> None:
        """Send a signal to the broker process (tests pause it with SIGSTOP to play a slow broker)."""
        if self.running and self._proc is not None:
            self._proc.send_signal(sig)

    def kill(self) -> None:
        """kill -9, for crash tests."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def stop_stale(self) -> None:
        """Stop a broker a killed earlier run left on this data dir (normally none: children die with us)."""
        if not self._pidfile.exists():
            return
        pid = int(self._pidfile.read_text() or 0)
        if pid and pid_alive(pid) and b"kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, 15)
            deadline = time.monotonic() + 15
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if pid_alive(pid):
                os.kill(pid, 9)
        self._pidfile.unlink(missing_ok=True)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


def _random_cluster_id() -> str:
    import base64

    while True:  # like Kafka's own Uuid.randomUuid: never a leading "-" (it would read as an option)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
