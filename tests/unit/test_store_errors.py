"""A server that is down gives one line that names it (never its password) and says what to do;
one that is still starting is waited for.

Each store is pointed at a port on 127.0.0.1 where nothing listens, so no server is needed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from hz45.errors import ServiceUnavailable
from hz45.settings import ROOT, load_settings
from hz45.stores import kafka, mongo, rdkafka
from hz45.stores.sql import get_engine


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_line(exc: ServiceUnavailable) -> str:
    line = exc.line()
    assert "\n" not in line
    assert "make services-up" in line
    return line


def test_main_db_down(free_port):
    url = f"mysql+pymysql://hz45:s3cret-pw@127.0.0.1:{free_port}/hz45"
    with pytest.raises(ServiceUnavailable) as err:
        get_engine(url, load_settings(environ={}))
    line = one_line(err.value)
    assert f"127.0.0.1:{free_port}" in line
    assert "s3cret-pw" not in line and "***" in line


def test_mongo_down(free_port):
    settings = load_settings(environ={"HZ45_MONGO__URI": f"mongodb://app:s3cret-pw@127.0.0.1:{free_port}/",
                                      "HZ45_MONGO__TIMEOUT_MS": "500"})
    with pytest.raises(ServiceUnavailable) as err:
        mongo.get_client(settings)
    line = one_line(err.value)
    assert f"MongoDB at mongodb://127.0.0.1:{free_port}/" in line
    assert "s3cret-pw" not in line


@pytest.mark.parametrize("factory", [
    kafka.producer, kafka.admin, lambda settings: kafka.consumer("t", settings=settings),
    lambda settings: rdkafka.EventProducer(settings),
    lambda settings: rdkafka.PartitionReader("t", "g", "earliest", settings),
])
def test_kafka_down(free_port, factory):
    settings = load_settings(environ={"HZ45_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port}",
                                      "HZ45_KAFKA__TIMEOUT_MS": "500"})
    with pytest.raises(ServiceUnavailable) as err:
        factory(settings=settings)
    assert f"Kafka at 127.0.0.1:{free_port} does not answer" in one_line(err.value)


def test_the_cli_says_it_on_one_line(free_port):
    env = {**os.environ, "HZ45_SQL__URL": f"mysql+pymysql://hz45:pw@127.0.0.1:{free_port}/hz45"}
    env.pop("HZ45_PROFILE", None)
    proc = subprocess.run([sys.executable, "-m", "hz45.cli", "db", "init"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "make services-up" in proc.stderr, proc.stderr


class StartingCoordinator:
    """A consumer whose group coordinator answers as a broker that has just started does."""

    def __init__(self, starting_answers: int, error: int = KafkaError.NOT_COORDINATOR):
        self.left = starting_answers
        self.error = error

    def committed(self, partitions, timeout):
        if self.left:
            self.left -= 1
            raise KafkaException(KafkaError(self.error))
        return partitions


def test_committed_offsets_wait_for_a_coordinator_that_is_starting():
    consumer = StartingCoordinator(2, KafkaError.COORDINATOR_LOAD_IN_PROGRESS)
    partitions = [TopicPartition("t", 0)]
    assert rdkafka.committed(consumer, partitions, timeout_s=1) == partitions
    assert consumer.left == 0


def test_committed_offsets_raise_other_errors_at_once():
    consumer = StartingCoordinator(1, KafkaError.GROUP_AUTHORIZATION_FAILED)
    t0 = time.monotonic()
    with pytest.raises(KafkaException):
        rdkafka.committed(consumer, [TopicPartition("t", 0)], timeout_s=1)
    assert time.monotonic() - t0 < 0.5
