import numpy as np
import pandas as pd

from training.splits import kfold, leave_last_out, sample_negatives, stratified_split


def test_kfold_partitions_every_row_once(tiny):
    frame = tiny.interactions
    tests = [test for _, test in kfold(frame, 5, seed=1)]
    assert sum(len(t) for t in tests) == len(frame)
    keys = pd.concat(tests)[["user_id", "item_id"]].drop_duplicates()
    assert len(keys) == len(frame.drop_duplicates(["user_id", "item_id"]))
    again = [test for _, test in kfold(frame, 5, seed=1)]
    assert all(a.equals(b) for a, b in zip(tests, again))


def test_stratified_split_keeps_the_ratio_per_user(tiny):
    train, test = stratified_split(tiny.interactions, 0.75, seed=42)
    per_user = train.groupby("user_id").size() / tiny.interactions.groupby("user_id").size()
    assert (per_user == 12 / 16).all()  # 16 rows each: 12 train, 4 test
    assert len(train.merge(test, on=["user_id", "item_id"])) == 0


def test_leave_last_out_holds_out_the_latest_row(tiny):
    train, test = leave_last_out(tiny.interactions)
    assert len(test) == tiny.interactions["user_id"].nunique()
    latest = tiny.interactions.sort_values("timestamp").groupby("user_id").tail(1)
    assert set(map(tuple, test[["user_id", "item_id"]].to_numpy())) == set(map(tuple, latest[["user_id", "item_id"]].to_numpy()))


def test_negatives_avoid_interacted_items():
    items = np.arange(20)
    negs = sample_negatives(np.array([1, 2]), {1: set(range(10)), 2: {0}}, items, 8, seed=0)
    assert negs.shape == (2, 8)
    assert not set(negs[0]) & set(range(10))
    assert len(set(negs[1])) == 8 and 0 not in negs[1]
