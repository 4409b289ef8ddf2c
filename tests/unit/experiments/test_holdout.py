"""The frozen holdout: cut once and read back unchanged, disjoint from the development rows,
and refused when the data it was cut from has changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hz45.errors import Hz45Error
from experiments.holdout import frame_digest, frozen_holdout


def interactions(seed: int = 0, users: int = 30, per_user: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = users * per_user
    return pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(users), per_user).astype(np.int64),
            "item_id": np.tile(np.arange(per_user), users).astype(np.int64),
            "event_type": "rating",
            "value": rng.integers(1, 6, rows).astype(float),
            "timestamp": pd.to_datetime(rng.integers(0, 10**9, rows), unit="s", utc=True),
        }
    )


def test_holdout_is_cut_once_and_read_back(tmp_path: Path) -> None:
    data = interactions()
    first = frozen_holdout(data, "toy", tmp_path, share=0.2, seed=7)
    # A different seed later does not re-split: the saved rows are the holdout.
    again = frozen_holdout(data, "toy", tmp_path, share=0.2, seed=8)
    assert again.digest == first.digest
    pd.testing.assert_frame_equal(again.rows, first.rows)
    assert (tmp_path / "toy" / "manifest.json").exists()


def test_holdout_takes_a_share_of_every_listener_and_leaves_the_rest(tmp_path: Path) -> None:
    data = interactions()
    holdout = frozen_holdout(data, "toy", tmp_path, share=0.2, seed=7)
    assert set(holdout.rows["user_id"]) == set(data["user_id"])
    assert len(holdout.rows) == pytest.approx(0.2 * len(data), abs=len(data["user_id"].unique()))
    development = holdout.development(data)
    assert len(development) + len(holdout.rows) == len(data)
    keys = ["user_id", "item_id"]
    assert development.merge(holdout.rows, on=keys).empty


def test_changed_source_data_is_refused(tmp_path: Path) -> None:
    frozen_holdout(interactions(seed=0), "toy", tmp_path, share=0.2, seed=7)
    with pytest.raises(Hz45Error, match="different data"):
        frozen_holdout(interactions(seed=1), "toy", tmp_path, share=0.2, seed=7)


def test_digest_ignores_row_order_but_not_values() -> None:
    data = interactions()
    assert frame_digest(data) == frame_digest(data.sample(frac=1.0, random_state=3))
    changed = data.copy()
    changed.loc[0, "value"] = 6.0 if changed.loc[0, "value"] != 6.0 else 1.0
    assert frame_digest(changed) != frame_digest(data)
