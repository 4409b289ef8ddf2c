from pathlib import Path

import numpy as np
import pytest

from training import evaluate_leave_one_out, evaluate_ranking, evaluate_rating_cv
from training.base import Recommender
from training.models import make_model


class Oracle(Recommender):
    """Scores 1 for every item the user interacted with anywhere in the dataset: a perfect ranker."""

    name = "oracle"

    def __init__(self, truth=None):
        self.truth = truth

    def _fit(self, train, *, items, valid, callbacks):
        pass

    def score_users(self, u):
        out = np.zeros((len(u), len(self.items)), dtype=np.float32)
        for row, pos in enumerate(u):
            liked = self.truth.get(int(self.users.ids[pos]), set()) if pos >= 0 else set()
            out[row, self.items.positions(list(liked))] = 1.0
        return out

    def _predict_pairs(self, u, i):
        return np.array([self.score_users(np.array([a]))[0, b] for a, b in zip(u, i)], dtype=np.float32)

    def _save_state(self, path: Path):
        pass

    def _load_state(self, path: Path):
        pass


@pytest.fixture
def oracle(tiny):
    return Oracle(tiny.interactions.groupby("user_id")["item_id"].apply(set).to_dict())


def test_a_perfect_ranker_scores_perfectly_on_both_ranking_protocols(oracle, tiny):
    table = evaluate_ranking(oracle, tiny, k=10)
    row = table.iloc[0]
    # 4 held-out items per user: all found first, so P@10 = 4/10 and the rest are 1.
    assert row["precision@10"] == pytest.approx(0.4)
    for metric in ("recall@10", "ndcg@10", "map", "map@10", "hr@10"):
        assert row[metric] == pytest.approx(1.0), metric
    loo = evaluate_leave_one_out(oracle, tiny, k=10, negatives=20).iloc[0]
    assert loo["hr@10"] == pytest.approx(1.0) and loo["ndcg@10"] == pytest.approx(1.0)
    assert loo["users"] == tiny.interactions["user_id"].nunique()


def test_rating_cv_table_has_a_row_per_fold_and_a_mean(tiny):
    table = evaluate_rating_cv(make_model("svd", n_factors=4, n_epochs=5), tiny, folds=3)
    assert table["fold"].tolist() == ["1", "2", "3", "mean"]
    assert table.loc[3, "rmse"] == pytest.approx(table.loc[:2, "rmse"].mean())
    assert (table["rmse"] >= table["mae"]).all()
    with pytest.raises(ValueError, match="does not predict ratings"):
        evaluate_rating_cv(make_model("als"), tiny)


def test_ranking_table_reports_beyond_accuracy_metrics(tiny):
    row = evaluate_ranking(make_model("als", factors=4, iterations=5, reg=1.0), tiny).iloc[0]
    assert 0 < row["coverage"] <= 1 and row["novelty"] > 0
    assert 0 <= row["diversity"] <= 2  # the tiny catalogue has audio features
    assert row["ndcg@10"] > 0.3  # well above chance on the genre-structured data
