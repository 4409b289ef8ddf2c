import copy

import mlflow
import numpy as np
import pandas as pd
import pytest

from training.base import ModelError, load_model
from training.models.hybrid import Hybrid, fit_weights, ValidationSet, zscore
from training.pyfunc import SIGNATURE, build_hybrid_pyfunc

COMPONENTS = {
    "svd": {"n_factors": 8, "n_epochs": 30, "lr_all": 0.02},
    "ncf": {"factors": 4, "mlp_layers": (8, 4), "epochs": 2, "batch_size": 64, "learning_rate": 0.01, "refit": False},
    "als": {"factors": 4, "iterations": 5, "reg": 1.0},
    "content": {},
}
NEW_TRACK = 999


@pytest.fixture(scope="module")
def catalogue(tiny):
    """The tiny catalogue plus one new jazz track nobody has played yet."""
    new = tiny.items[tiny.items["item_id"] == 101].assign(item_id=NEW_TRACK, title="fresh jazz")
    return pd.concat([tiny.items, new], ignore_index=True)


@pytest.fixture(scope="module")
def hybrid(tiny, catalogue):
    return Hybrid(components=COMPONENTS, refit=False, validation_share=0.25).fit(tiny.interactions, items=catalogue)


def test_blend_weights_are_fitted_and_sum_to_one(hybrid):
    assert set(hybrid.weights) == set(COMPONENTS)
    assert sum(hybrid.weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert all(w >= 0 for w in hybrid.weights.values())


def test_weight_search_finds_the_informative_component():
    rng = np.random.default_rng(0)
    relevant = [np.array([r % 20]) for r in range(30)]
    good = rng.normal(size=(30, 20)).astype(np.float32)
    for r, rel in enumerate(relevant):
        good[r, rel] += 5.0  # this component puts the relevant item first
    noise = rng.normal(size=(30, 20)).astype(np.float32)
    valid = ValidationSet({"good": good, "noise": noise}, (np.array([], int), np.array([], int)), relevant)
    weights = fit_weights(valid, 5)
    assert weights["good"] > weights["noise"]


def test_zscore_ignores_unknown_and_infinite_entries():
    z = zscore(np.array([[1.0, 3.0, np.inf, 100.0]]), np.array([True, True, True, False]))
    np.testing.assert_allclose(z[0, :2], [-1.0, 1.0])
    assert np.isnan(z[0, 2:]).all()


def test_known_listener_gets_reasons_and_no_seen_items(hybrid, tiny):
    recs = hybrid.recommend(1, 5)
    seen = set(tiny.interactions.loc[tiny.interactions["user_id"] == 1, "item_id"])
    assert len(recs) == 5 and not set(recs["item_id"]) & seen
    assert recs["reason"].str.len().gt(0).all() and not recs["cold_start"].any()
    assert recs["score"].is_monotonic_decreasing


def test_cold_start_without_context_is_popular_tracks(hybrid, tiny):
    recs = hybrid.recommend(123_456, 5)
    assert recs["cold_start"].all()
    popular = tiny.interactions["item_id"].value_counts()
    assert popular[recs["item_id"]].mean() >= popular.median()
    assert (recs["reason"] == "popular right now").all()


def test_cold_start_with_context_follows_it(hybrid):
    jazz = [101, 104, 107, 110]
    recs = hybrid.recommend(123_456, 5, context=jazz, exclude=[113])
    assert recs["cold_start"].all() and not set(recs["item_id"]) & set(jazz + [113])
    assert np.mean([(i - 100) % 3 == 1 or i == NEW_TRACK for i in recs["item_id"]]) >= 0.6


def test_new_track_is_reachable_through_content(hybrid):
    recs = hybrid.recommend(123_456, 10, context=[101, 104, 107, 110, 113, 116])
    assert NEW_TRACK in set(recs["item_id"])
    reason = recs.loc[recs["item_id"] == NEW_TRACK, "reason"].iloc[0]
    assert reason.startswith("new: similar to song ")


def test_hybrid_save_load_round_trip(hybrid, tmp_path):
    loaded = load_model(hybrid.save(tmp_path / "hybrid"))
    assert loaded.weights == hybrid.weights
    pd.testing.assert_frame_equal(loaded.recommend(2, 5, context=[101]), hybrid.recommend(2, 5, context=[101]))


def test_pyfunc_round_trip_needs_only_the_model_path(hybrid, tmp_path):
    path = build_hybrid_pyfunc(hybrid, tmp_path / "pyfunc")
    model = mlflow.pyfunc.load_model(str(path))
    assert model.metadata.get_input_schema() == SIGNATURE.inputs
    request = pd.DataFrame({"user_id": [1, 123_456], "n": [4, 3], "context": [[101], [104, 107]], "exclude": [[], [110]]})
    out = model.predict(request)
    assert list(out.columns) == ["user_id", "rank", "item_id", "score", "reason", "cold_start"]
    assert out.groupby("user_id")["rank"].max().to_dict() == {1: 4, 123_456: 3}
    assert out.loc[out["user_id"] == 123_456, "cold_start"].all()
    direct = hybrid.recommend(1, 4, context=[101])
    np.testing.assert_array_equal(out.loc[out["user_id"] == 1, "item_id"].to_numpy(), direct["item_id"].to_numpy())
    with pytest.raises(Exception, match="n=500"):
        model.predict(pd.DataFrame({"user_id": [1], "n": [500]}))


def test_served_model_answers_as_the_pyfunc_predicts(hybrid, tmp_path):
    from serving.model import ServedModel

    model = mlflow.pyfunc.load_model(str(build_hybrid_pyfunc(hybrid, tmp_path / "pyfunc")))
    served = ServedModel(model)
    for user, context, exclude in [(1, [101], [110]), (123_456, [104, 107], [])]:
        got = served.recommend(user, 4, context, exclude)
        row = {"user_id": [user], "n": [4], "context": [context], "exclude": [exclude]}
        want = model.predict(pd.DataFrame(row))
        assert [r.item_id for r in got.items] == want["item_id"].tolist()
        assert [r.reason for r in got.items] == want["reason"].tolist()
        np.testing.assert_allclose([r.score for r in got.items], want["score"].to_numpy(), rtol=1e-6)
        assert got.cold_start == bool(want["cold_start"].any())


def test_assemble_from_fitted_components(hybrid, tiny, catalogue):
    from training.splits import stratified_split

    train, valid = stratified_split(tiny.interactions, 0.8, seed=1)
    parts = {n: p.clone().fit(train, items=catalogue) for n, p in hybrid.parts.items() if n != "ncf"}
    assembled = Hybrid.assemble(parts, train, valid, items=catalogue)
    assert set(assembled.weights) == set(parts) and len(assembled.recommend(1, 3)) == 3


def test_unfitted_hybrid_says_so():
    with pytest.raises(ModelError, match="not fitted"):
        Hybrid().recommend(1)


def test_shortlisted_neural_scores_equal_the_full_catalogue_path(hybrid, tmp_path):
    model = load_model(hybrid.save(tmp_path / "h"))
    model.weights = {"svd": 0.2, "ncf": 0.3, "als": 0.3, "content": 0.2}
    model._prepare_scoring()
    assert model.retrieval is None  # candidates >= catalogue: every component on every item
    full = model.request_scores(2)
    model.candidates = 20
    model._prepare_scoring()
    assert list(model.shortlist_stats) == ["ncf"] and model.retrieval is not None
    short = model.request_scores(2)
    assert len(short.positions) == 20 and (short.contributions["ncf"] != 0).any()
    np.testing.assert_allclose(short.total, full.total[short.positions], rtol=1e-4, atol=1e-4)
    recs = model.recommend(2, 5)
    assert len(recs) == 5 and set(recs["item_id"]) <= set(model.items.ids[short.positions])


@pytest.mark.parametrize(
    "user_id, context, skipped",
    [(2, [], []), (12345, [], []), (3, [101, 105], [106]), (12345, [101], [])],
    ids=["known", "cold", "known-with-context", "cold-with-context"],
)
def test_retrieved_scores_equal_the_dense_path(hybrid, user_id, context, skipped):
    model = hybrid.with_weights({"svd": 0.3, "ncf": 0.0, "als": 0.4, "content": 0.3})
    assert model.retrieval is not None and len(model.retrieval.centroids) == 1
    blocked = model.items.positions([104, 110])
    retrieved = model._retrieved_scores(user_id, context, skipped, blocked)
    dense = model._dense_scores(user_id, context, skipped, blocked)
    assert not set(retrieved.positions) & set(blocked)
    np.testing.assert_allclose(retrieved.total, dense.total[retrieved.positions], atol=1e-5)
    for name, values in retrieved.contributions.items():
        np.testing.assert_allclose(values, dense.contributions[name][retrieved.positions], atol=1e-5)


def test_clustered_index_is_saved_with_the_version(hybrid, tmp_path):
    model = hybrid.with_weights({"svd": 0.3, "ncf": 0.0, "als": 0.4, "content": 0.3})
    model.scan = 20
    model._prepare_scoring()
    assert len(model.retrieval.centroids) > 1
    loaded = load_model(model.save(tmp_path / "clustered"))
    np.testing.assert_array_equal(loaded.retrieval.assignment, model.retrieval.assignment)
    pd.testing.assert_frame_equal(loaded.recommend(2, 5, context=[101]), model.recommend(2, 5, context=[101]))


def test_log_hybrid_registers_a_version_with_its_signature(hybrid, tmp_path):
    from mlflow import MlflowClient

    from training.pyfunc import log_hybrid

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    # Earlier tests may leave an active experiment id of another store in this process.
    mlflow.set_experiment("hybrid-test")
    try:
        with mlflow.start_run():
            info = log_hybrid(hybrid, registered_model_name="hybrid-test")
        version = MlflowClient().get_model_version("hybrid-test", "1")
        assert version.run_id == info.run_id
        loaded = mlflow.pyfunc.load_model("models:/hybrid-test/1")
        assert loaded.metadata.signature == SIGNATURE
        assert len(loaded.predict(pd.DataFrame({"user_id": [3], "n": [2]}))) == 2
    finally:
        mlflow.set_tracking_uri(None)


def test_with_weights_reblends_without_refitting(hybrid):
    only_content = hybrid.with_weights({"content": 2.0})
    assert only_content.weights == {"svd": 0.0, "ncf": 0.0, "als": 0.0, "content": 1.0}
    assert only_content.parts is hybrid.parts and hybrid.weights != only_content.weights
    jazz = only_content.recommend(123_456, 5, context=[101, 104])
    assert all((i - 100) % 3 == 1 or i == NEW_TRACK for i in jazz["item_id"])
    with pytest.raises(ModelError, match="must name components"):
        hybrid.with_weights({"bogus": 1.0})


def test_default_lists_give_the_full_paths_answer(hybrid, tmp_path):
    model = hybrid.with_weights({"svd": 0.3, "ncf": 0.0, "als": 0.4, "content": 0.3})
    listed = load_model(model.save(tmp_path / "lists"))
    assert listed.default_lists is not None and len(listed.default_lists.ids) == len(model.users) + 1
    full = copy.copy(listed)
    full.default_lists = None
    for user_id in [*model.users.ids.tolist(), 12345]:  # every training listener and a cold start
        for n in (1, 5, 20):
            pd.testing.assert_frame_equal(listed.recommend(user_id, n), full.recommend(user_id, n))
    # A request with context or exclusions takes the full path.
    first = int(full.recommend(2, 1)["item_id"][0])
    recs = listed.recommend(2, 5, context=[101], exclude=[first])
    assert first not in set(recs["item_id"])
    pd.testing.assert_frame_equal(recs, full.recommend(2, 5, context=[101], exclude=[first]))
