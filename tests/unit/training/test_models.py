import numpy as np
import pandas as pd
import pytest
import surprise

from training.base import ModelError, load_model
from training.feedback import as_ratings
from training.models import make_model

FAST = {
    "svd": {"n_factors": 8, "n_epochs": 60, "lr_all": 0.02},
    "svdpp": {"n_factors": 4, "n_epochs": 5},
    "knn_baseline": {"k": 5},
    "als": {"factors": 4, "iterations": 5, "reg": 1.0},
    "content": {},
    "ncf": {"factors": 4, "mlp_layers": (8, 4), "epochs": 2, "batch_size": 64, "learning_rate": 0.01, "refit": False},
    "rating_blend": {"components": {"svd": {"n_factors": 4, "n_epochs": 30, "lr_all": 0.02}, "knn_baseline": {"k": 5}}},
}


@pytest.fixture(scope="module")
def fitted(tiny):
    return {name: make_model(name, **params).fit(tiny.interactions, items=tiny.items) for name, params in FAST.items()}


@pytest.mark.parametrize("name", list(FAST))
def test_save_load_round_trip(name, fitted, tiny, tmp_path):
    model = fitted[name]
    users, items = tiny.interactions["user_id"].to_numpy()[:50], tiny.interactions["item_id"].to_numpy()[::-1][:50]
    loaded = load_model(model.save(tmp_path / name))
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    np.testing.assert_allclose(loaded.predict(users, items), model.predict(users, items), rtol=1e-5, atol=1e-6)
    pd.testing.assert_frame_equal(loaded.recommend(3, 5), model.recommend(3, 5))


@pytest.mark.parametrize("name", list(FAST))
def test_top_n_equals_ranking_by_per_item_predict(name, fitted):
    model = fitted[name]
    user = int(model.users.ids[4])
    seen = set(model.items.ids[model.seen[model.users.position(user)].indices])
    candidates = np.array([i for i in model.items.ids if i not in seen])
    # Per-item scores from predict; rank by them (unclipped scores: ranking must not depend on clipping).
    per_item = model._predict_pairs(np.full(len(candidates), model.users.position(user)), model.items.positions(candidates))
    expected = candidates[np.argsort(-per_item, kind="stable")][:5]
    got = model.recommend(user, 5)
    np.testing.assert_allclose(np.sort(per_item)[::-1][:5], got["score"].to_numpy(), rtol=1e-5, atol=1e-6)
    assert not set(got["item_id"]) & seen
    assert set(got["item_id"]) == set(expected) or np.allclose(np.sort(per_item)[::-1][4:6], np.sort(per_item)[::-1][4])


@pytest.mark.parametrize("name", ["svd", "svdpp", "ncf", "als"])
def test_same_seed_same_model(name, tiny):
    a = make_model(name, **FAST[name]).fit(tiny.interactions, items=tiny.items)
    b = make_model(name, **FAST[name]).fit(tiny.interactions, items=tiny.items)
    users = tiny.interactions["user_id"].to_numpy()[:30]
    items = tiny.interactions["item_id"].to_numpy()[:30]
    np.testing.assert_array_equal(a.predict(users, items), b.predict(users, items))


def test_models_learn_the_genre_structure(fitted, tiny):
    genre = tiny.items.set_index("item_id")["genre"]
    user = 1  # likes genre 0 ("rock")
    for name in ("svd", "als", "content", "ncf"):
        top = fitted[name].recommend(user, 5)["item_id"]
        assert (genre[top] == "rock").mean() >= 0.6, name


@pytest.mark.parametrize("name,algo", [("svd", surprise.SVD), ("svdpp", surprise.SVDpp)])
def test_factor_scores_equal_surprise_predictions(name, algo, fitted, tiny):
    ratings = as_ratings(tiny.interactions)
    model = fitted[name]
    frame = pd.DataFrame({"u": model.users.positions(ratings["user_id"]), "i": model.items.positions(ratings["item_id"]),
                          "r": ratings["rating"]})
    trainset = surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=(1, 5))).build_full_trainset()
    reference = algo(**{**{k: v for k, v in FAST[name].items()}, "random_state": 42,
                        **({"cache_ratings": True} if name == "svdpp" else {})}).fit(trainset)
    users, items = ratings["user_id"].to_numpy()[:40], np.roll(ratings["item_id"].to_numpy(), 7)[:40]
    expected = [reference.predict(u, i).est for u, i in zip(model.users.positions(users), model.items.positions(items))]
    np.testing.assert_allclose(model.predict(users, items), expected, rtol=1e-4)


def test_knn_baseline_matches_surprise(tiny):
    # Continuous ratings, so no two neighbours tie on similarity (ties may be broken differently).
    frame = tiny.interactions.assign(value=np.random.default_rng(5).uniform(1, 5, len(tiny.interactions)))
    model = make_model("knn_baseline", k=5).fit(frame)
    ratings = as_ratings(frame)
    table = pd.DataFrame({"u": model.users.positions(ratings["user_id"]), "i": model.items.positions(ratings["item_id"]),
                          "r": ratings["rating"]})
    scale = (ratings["rating"].min(), ratings["rating"].max())
    trainset = surprise.Dataset.load_from_df(table, surprise.Reader(rating_scale=scale)).build_full_trainset()
    reference = surprise.KNNBaseline(k=5, verbose=False).fit(trainset)
    users, items = ratings["user_id"].to_numpy()[:60], np.roll(ratings["item_id"].to_numpy(), 11)[:60]
    expected = [reference.predict(u, i).est for u, i in zip(model.users.positions(users), model.items.positions(items))]
    np.testing.assert_allclose(model.predict(users, items), expected, rtol=1e-4)


def test_unknown_user_gets_popular_items_and_errors_name_the_problem(fitted, tiny):
    recs = fitted["svd"].recommend(999_999, 3)
    assert len(recs) == 3
    with pytest.raises(ModelError, match="unknown model"):
        make_model("nope")
    with pytest.raises(ModelError, match="missing column"):
        make_model("svd").fit(tiny.interactions.drop(columns="value"))
    with pytest.raises(ModelError, match="not fitted"):
        make_model("svd").recommend(1)


def test_ncf_reports_every_epoch_and_stops_when_asked(tiny):
    seen = []

    def callback(epoch, metrics):
        seen.append((epoch, dict(metrics)))
        return epoch == 1  # ask to stop after the second epoch

    make_model("ncf", **{**FAST["ncf"], "epochs": 5}).fit(tiny.interactions, callbacks=[callback])
    assert [e for e, _ in seen] == [0, 1]
    assert {"loss", "val_ndcg@10", "val_hr@10"} <= set(seen[0][1])


def test_rating_blend_is_at_least_as_accurate_as_its_components_on_held_out_rows(tiny):
    from training.metrics import rmse
    from training.splits import stratified_split

    train, test = stratified_split(tiny.interactions, 0.8, seed=3)
    blend = make_model("rating_blend", **FAST["rating_blend"]).fit(train)
    errors = {name: rmse(test["value"], part.predict(test["user_id"], test["item_id"])) for name, part in blend.parts.items()}
    assert rmse(test["value"], blend.predict(test["user_id"], test["item_id"])) <= min(errors.values()) + 0.02
    with pytest.raises(ModelError, match="does not predict ratings"):
        make_model("rating_blend", components={"als": {}}).fit(train)


def test_ncf_explicit_objective_predicts_ratings(tiny):
    model = make_model("ncf", **{**FAST["ncf"], "objective": "explicit", "epochs": 3}).fit(tiny.interactions)
    pred = model.predict(tiny.interactions["user_id"], tiny.interactions["item_id"])
    assert model.predicts_ratings and pred.min() >= 1.0 and pred.max() <= 5.0


def test_content_profile_follows_context_and_skips(fitted):
    content = fitted["content"]
    jazz = [101, 104, 107]  # item_genre 1
    recs = content.recommend(999_999, 5, context=jazz)
    assert set(recs["item_id"]) & set(jazz) == set()
    assert all((i - 100) % 3 == 1 for i in recs["item_id"])
    similar = content.similar_items(101, 3)
    assert all((i - 100) % 3 == 1 for i in similar["item_id"])


@pytest.mark.parametrize("architecture", ["gmf", "mlp", "neumf"])
def test_ncf_numpy_scoring_equals_the_keras_network(architecture, tiny):
    model = make_model("ncf", **{**FAST["ncf"], "architecture": architecture, "epochs": 1}).fit(tiny.interactions)
    u = model.users.positions(tiny.interactions["user_id"].to_numpy()[:25])
    i = model.items.positions(tiny.interactions["item_id"].to_numpy()[::-1][:25])
    keras_scores = model.network.predict({"user": u.astype("int32"), "item": i.astype("int32")}, verbose=0)
    np.testing.assert_allclose(model._predict_pairs(u, i), keras_scores, rtol=1e-4, atol=1e-5)
    assert model.score_users(u[:3]).shape == (3, len(model.items))
