"""The replica's recommendation log on the real broker: records gathered by LogBatcher arrive as
messages of at most RECORDS_PER_MESSAGE records, and every record comes back as its document."""

from __future__ import annotations

import time
import uuid

from hz45.stores import kafka
from serving.producer import BackgroundProducer
from serving.reclog import RECORDS_PER_MESSAGE, LogBatcher, log_record, to_documents


def test_batched_log_records_arrive_whole_in_bounded_messages(services_settings):
    topic = f"hz45.it.reclog.{uuid.uuid4().hex[:8]}"
    client = kafka.admin(services_settings)
    client.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True)
    producer = BackgroundProducer(lambda: kafka.producer(services_settings)).start()
    try:
        deadline = time.monotonic() + 30
        while not producer.connected and time.monotonic() < deadline:
            time.sleep(0.1)
        batcher = LogBatcher(producer, topic, interval_s=60)  # flushed by hand below
        total = 2 * RECORDS_PER_MESSAGE + 500
        for k in range(total):
            batcher.add(log_record(f"r{k}", k, [k], [1.0], "hz45-hybrid", "1", False, False, 0.1))
        batcher.flush()
        producer.close()  # delivers what is queued
        consumer = kafka.consumer(topic, settings=services_settings, group_id=f"it-{uuid.uuid4().hex[:8]}",
                                  auto_offset_reset="earliest", consumer_timeout_ms=15000)
        messages = []
        for record in consumer:
            messages.append(to_documents(record.value))
            if sum(len(m) for m in messages) >= total:
                break
        consumer.close()
    finally:
        producer.close()  # again, if a step before failed
        client.delete_topics([topic])
        client.close()
    assert [len(m) for m in messages] == [RECORDS_PER_MESSAGE, RECORDS_PER_MESSAGE, 500]
    assert [d["_id"] for m in messages for d in m] == [f"r{k}" for k in range(total)]
    assert batcher.dropped == 0
