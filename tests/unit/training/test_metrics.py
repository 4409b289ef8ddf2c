import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from training import metrics

# Two users, top-4 lists. User A: relevant items at ranks 1 and 3, 3 relevant in all.
# User B: relevant at rank 2, 1 relevant in all.
HITS = np.array([[1, 0, 1, 0], [0, 1, 0, 0]], dtype=bool)
N_REL = np.array([3, 1])


def test_precision_recall_hit_rate_by_hand():
    assert metrics.precision_at_k(HITS, N_REL, 4) == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert metrics.recall_at_k(HITS, N_REL, 4) == pytest.approx((2 / 3 + 1 / 1) / 2)
    assert metrics.hit_rate_at_k(HITS, N_REL, 1) == pytest.approx(0.5)
    assert metrics.hit_rate_at_k(HITS, N_REL, 2) == pytest.approx(1.0)


def test_ndcg_by_hand():
    a = (1 / np.log(2) + 1 / np.log(4)) / (1 / np.log(2) + 1 / np.log(3) + 1 / np.log(4))
    b = (1 / np.log(3)) / (1 / np.log(2))
    assert metrics.ndcg_at_k(HITS, N_REL, 4) == pytest.approx((a + b) / 2)


def test_map_full_and_at_k_by_hand():
    # A: precisions at hits 1/1 and 2/3; B: 1/2.
    assert metrics.map_full(HITS, N_REL, 4) == pytest.approx(((1 + 2 / 3) / 3 + 0.5 / 1) / 2)
    assert metrics.map_at_k(HITS, N_REL, 2) == pytest.approx((1 / 2 + 0.5 / 1) / 2)


def test_ndcg_matches_sklearn_with_binary_relevance():
    rng = np.random.default_rng(3)
    n_items, k = 30, 10
    truth = (rng.random((25, n_items)) < 0.2).astype(float)
    truth[truth.sum(axis=1) == 0, 0] = 1.0
    scores = rng.random((25, n_items))
    ranked = np.argsort(-scores, axis=1)[:, :k]
    hits = np.take_along_axis(truth, ranked, axis=1).astype(bool)
    ours = metrics.ndcg_at_k(hits, truth.sum(axis=1), k)
    assert ours == pytest.approx(ndcg_score(truth, scores, k=k), rel=1e-9)


def test_hit_matrix_and_input_checks():
    hits = metrics.hit_matrix(np.array([[5, 6, 7]]), [np.array([7, 9])])
    assert hits.tolist() == [[False, False, True]]
    with pytest.raises(ValueError):
        metrics.ndcg_at_k(HITS, np.array([1, 0]), 4)


def test_rmse_mae():
    assert metrics.rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(np.sqrt(4 / 3))
    assert metrics.mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)


def test_beyond_accuracy_metrics():
    ranked = np.array([[0, 1], [1, 2]])
    assert metrics.coverage(ranked, 10) == pytest.approx(0.3)
    features = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    # list 1: orthogonal items (distance 1); list 2: orthogonal too.
    assert metrics.intra_list_diversity(ranked, features) == pytest.approx(1.0)
    assert metrics.intra_list_diversity(np.array([[0, 2]]), features) == pytest.approx(0.0)
    # item 0 seen by 5 of 10 users: 1 bit; item 1 by 10 of 10: 0 bits.
    assert metrics.novelty(np.array([[0, 1]]), np.array([5, 10, 0]), 10) == pytest.approx(0.5)
