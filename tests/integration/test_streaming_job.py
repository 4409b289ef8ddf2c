"""The streaming job against the real broker, FerretDB and a main DB: replay a known set of events
with malformed ones mixed in, run the job, and compare every output with a pandas computation
over the same events; then crash the job mid-stream and check the restart loses and doubles
nothing."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from hz45 import catalog
from hz45.stores import kafka
from hz45.stores.rdkafka import EventProducer
from streaming import sinks
from streaming.backfill import features_from_events, same_features, with_audio
from streaming.features import HOUR_MS, FeatureParams
from streaming.malformed import KINDS
from streaming.parse import ERROR_FIELD_HEADER, ERROR_REASON_HEADER
from streaming.replay import PRODUCER_OPTIONS, dataset_events, records, send
from streaming.schema import FIELDS, InvalidEvent, validate_event
from streaming_helpers import StreamRun, kill, read_topic

pytestmark = pytest.mark.integration

# The job reads track features from the same catalog dataset (streaming_helpers sets
# streaming.track_features to "dummy"), so the replay uses its default options too.
DATASET = "dummy"


@pytest.fixture
def run(tmp_path: Path):
    stream_run = StreamRun(tmp_path)
    kafka.ensure_topics(stream_run.settings)
    yield stream_run
    stream_run.close()


def replay(run: StreamRun, rate: float, malformed_share: float) -> tuple[int, int]:
    """Send the dummy dataset's events (stamped when sent) with malformed records mixed in."""
    events = dataset_events(catalog.load(DATASET), run.config.replay.session_gap_s)
    producer = EventProducer(run.settings, **PRODUCER_OPTIONS)
    try:
        report = send(
            records(events, "live", malformed_share, seed=5), producer, run.settings.kafka.topics.raw_events, rate
        )
    finally:
        producer.close()
    return report.valid, report.malformed


def sent_events(run: StreamRun) -> tuple[pd.DataFrame, list[tuple[bytes, str]]]:
    """What is on the raw topic, split by the schema: the valid events, and (payload, field)
    of the invalid records."""
    good, bad = [], []
    for record in read_topic(run.settings, run.settings.kafka.topics.raw_events):
        try:
            good.append(validate_event(record.value).model_dump())
        except InvalidEvent as exc:
            bad.append((record.value, exc.field))
    return pd.DataFrame(good, columns=list(FIELDS)), bad


def expected_features(run: StreamRun, events: pd.DataFrame) -> dict[int, dict]:
    tracks = catalog.load(DATASET).items.rename(columns={"item_id": "track_id"})
    cfg = run.config
    return features_from_events(
        with_audio(events, tracks), FeatureParams.from_config(cfg)
    )


def assert_outputs_match(
    run: StreamRun, events: pd.DataFrame, bad: list[tuple[bytes, str]], repeated_dead_letters: bool = False
) -> None:
    """Every sink holds what the events say. Dead letters are written at least once: a batch
    rerun after a crash may send some again (`repeated_dead_letters`), but never lose one."""
    settings, topics = run.settings, run.settings.kafka.topics
    db = run.database()

    # Raw log: every valid event exactly once, as sent.
    logged = pd.DataFrame(list(db[run.config.events_collection].find({}, {"event_time": 0})))
    assert len(logged) == len(events)
    assert Counter(logged["event_id"]) == Counter(events["event_id"])
    assert (logged["_id"] == logged["event_id"]).all()
    merged = events.merge(logged, on="event_id", suffixes=("", "_logged"))
    for name in FIELDS:
        if name != "event_id":
            assert (merged[name] == merged[f"{name}_logged"]).all(), name

    # Dead letters: every invalid record, byte for byte, with the field the schema names.
    letters = read_topic(settings, topics.dead_letter)
    got = Counter()
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers}
        assert headers[ERROR_REASON_HEADER]
        got[(letter.value, headers[ERROR_FIELD_HEADER])] += 1
    if repeated_dead_letters:
        assert set(got) == set(bad)
    else:
        assert got == Counter(bad)

    # Feature documents in MongoDB and the latest update per listener on the compacted topic.
    want = expected_features(run, events)
    docs = {d["_id"]: d for d in db[run.config.features_collection].find()}
    assert set(docs) == set(want)
    latest = {int(r.key): json.loads(r.value) for r in read_topic(settings, topics.user_features)}
    assert set(latest) == set(want)
    for listener, doc in want.items():
        assert same_features(docs[listener], doc) == [], listener
        assert same_features(latest[listener], doc) == [], listener

    # Live charts: plays per track and hour.
    plays = events[events["type"] == "play"]
    want_chart = Counter(zip(plays["timestamp"] - plays["timestamp"] % HOUR_MS, plays["track_id"]))
    engine = sa.create_engine(settings.sql.url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sinks.live_track_plays)).fetchall()
    engine.dispose()
    got_chart = Counter({(int(pd.Timestamp(h, tz="UTC").value // 1_000_000), t): n for h, t, n in rows})
    assert got_chart == want_chart


def test_replayed_events_reach_every_sink_once_and_match_pandas(run: StreamRun):
    valid, malformed = replay(run, rate=4000, malformed_share=0.03)
    events, bad = sent_events(run)
    assert len(events) == valid == len(catalog.load(DATASET).interactions) and len(bad) == malformed > 20
    assert {field for _, field in bad} == {field for field, _ in KINDS.values()}

    run.run_job("--available-now")
    assert_outputs_match(run, events, bad)

    # A second job over the whole topic from a fresh checkpoint (a replay of every batch) adds
    # no duplicate to the raw log and rebuilds the same feature documents.
    run.database().drop_collection(run.config.features_collection)
    again = StreamRun(run.folder / "again", run_id=run.run_id, HZ45_STREAMING__SINKS__CHARTS="false")
    again.run_job("--available-now")
    assert run.database()[run.config.events_collection].count_documents({}) == len(events)
    want = expected_features(run, events)
    for doc in run.database()[run.config.features_collection].find():
        assert same_features(doc, want[doc["_id"]]) == [], doc["_id"]


def test_job_killed_mid_stream_resumes_from_its_checkpoint(run: StreamRun):
    events_collection = run.database()[run.config.events_collection]
    job = run.start_job()
    deadline = time.monotonic() + 300
    while not (run.folder / "checkpoints" / "stream" / "offsets").exists():
        assert job.poll() is None, f"the streaming job stopped: {run.log_tail()}"
        assert time.monotonic() < deadline, "the streaming job did not start in 300s"
        time.sleep(1)

    pool = ThreadPoolExecutor(max_workers=1)
    sender = pool.submit(replay, run, 200, 0.02)
    while events_collection.count_documents({}) < 1000:
        assert job.poll() is None, f"the streaming job stopped: {run.log_tail()}"
        assert time.monotonic() < deadline + 120, "the streaming job wrote no events"
        time.sleep(0.5)
    kill(job)
    killed_at = events_collection.count_documents({})
    sender.result(timeout=300)
    pool.shutdown()
    assert killed_at < len(catalog.load(DATASET).interactions), (
        "the job was killed after the replay ended: not mid-stream"
    )

    run.run_job("--available-now")
    events, bad = sent_events(run)
    assert_outputs_match(run, events, bad, repeated_dead_letters=True)
