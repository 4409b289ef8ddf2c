"""Live chart plays in the main DB (embedded SQLite): a micro-batch that runs again after a crash
adds nothing; another batch or another query adds up."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from streaming import sinks

HOUR = 1_717_236_000_000 - 1_717_236_000_000 % 3_600_000


def chart(engine) -> dict[tuple[int, int], int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sinks.live_track_plays)).fetchall()
    return {(int(pd.Timestamp(h, tz="UTC").value // 1_000_000), t): n for h, t, n in rows}


def test_plays_are_added_once_per_query_and_batch(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'main.db'}")
    sinks.metadata.create_all(engine)
    batch = pd.DataFrame({"hour_start": [HOUR, HOUR, HOUR + 3_600_000], "track_id": [1, 2, 1], "plays": [3, 1, 2]})

    assert sinks.add_chart_plays(engine, "q1", 0, batch)
    assert not sinks.add_chart_plays(engine, "q1", 0, batch)  # the same batch again
    assert chart(engine) == {(HOUR, 1): 3, (HOUR, 2): 1, (HOUR + 3_600_000, 1): 2}

    assert sinks.add_chart_plays(engine, "q1", 1, batch.head(1))
    assert sinks.add_chart_plays(engine, "q2", 0, batch.head(1))  # a new checkpoint starts at 0 again
    assert chart(engine)[(HOUR, 1)] == 9

    assert sinks.add_chart_plays(engine, "q1", 2, batch.head(0))  # an empty batch is recorded too
    assert not sinks.add_chart_plays(engine, "q1", 2, batch)
    assert chart(engine)[(HOUR, 1)] == 9
