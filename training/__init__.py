"""Recommendation models and their evaluation.

Models (training.models; all subclasses of training.base.Recommender)
--------------------------------------------------------------------
Every model is configured only by its constructor's keyword arguments and shares one interface:

    model = make_model("svd", n_factors=100, n_epochs=20, seed=42)   # or SVD(n_factors=...)
    model.get_params()                       # the constructor arguments: the whole configuration
    model.clone()                            # same configuration, unfitted
    model.fit(train, items=None, valid=None, callbacks=())
        # train: interactions in the canonical frame of hz45.catalog (user_id, item_id, value;
        #        event_type and timestamp used where present)
        # items: the catalogue frame (Dataset.items) for content models and catalogue ids
        # valid: held-out interactions for early stopping / blend fitting (else split from train)
        # callbacks: EpochCallback(epoch, metrics) -> bool | None, called after every epoch by
        #            epoch-based models (`model.epoch_based`); returning True stops training.
        #            Ray Tune reports from it; ASHA stops a trial by ending it.
    model.predict(user_ids, item_ids) -> np.ndarray[float32]   # one score per pair; ratings on
        # the training scale when `model.predicts_ratings`
    model.score_users(user_positions) -> users x catalogue float32 scores (one matrix product)
    model.top_n(user_ids, n) -> (item_ids, scores), users x n, seen items removed, vectorised
    model.recommend(user_id, n=10, exclude=None, context=None) -> DataFrame(item_id, score[, reason])
        # context: recent item ids (newest last), used by content-based and hybrid models
    model.save(directory); load_model(directory)   # model.json (class + params) + state files

Names for make_model (training.models.MODELS): svd, svdpp, knn_baseline (scikit-surprise),
ncf (GMF/MLP/NeuMF, TensorFlow; epoch-based), als (implicit ALS), content (audio features and
genres), rating_blend (ridge blend of rating models), hybrid (the served model).

Hybrid and its MLflow pyfunc (training.models.hybrid, training.pyfunc)
---------------------------------------------------------------------
    hybrid = Hybrid(components={"svd": {...}, "ncf": {...}, "als": {...}, "content": {...}})
    hybrid.fit(train, items=dataset.items)       # blend weights fitted on a validation split
    Hybrid.assemble(fitted_components, train, valid, items)   # from already fitted components
    hybrid.recommend(user_id, n, exclude=..., context=..., skipped=...)
        -> DataFrame(item_id, score, reason, cold_start)
    build_hybrid_pyfunc(hybrid, path)            # an MLflow pyfunc model folder
    log_hybrid(hybrid, name="hybrid", registered_model_name=None, **log_model_kwargs) -> ModelInfo
    # pyfunc input: DataFrame(user_id, [n], [context], [exclude], [skipped]); output rows:
    # user_id, rank, item_id, score, reason, cold_start. After mlflow.pyfunc.load_model(uri),
    # model.unwrap_python_model().recommend_one(user_id, n, context=..., exclude=..., skipped=...)
    # is the same answer without the DataFrame round trip (the low-latency path for serving).
    hybrid.parts["content"].similar_items(item_id, n)   # content neighbours of a track

Evaluation (training.evaluation); each takes an unfitted model and a hz45 Dataset, returns a table
-----------------------------------------------------------------------------------------------
    evaluate_rating_cv(model, dataset, folds=5, seed=42)       # RMSE/MAE per fold + mean row
    evaluate_ranking(model, dataset, k=10, ratio=0.75, seed=42) # MAP, nDCG@k, P@k, R@k, HR@k,
                                                                # coverage, novelty, diversity
    evaluate_leave_one_out(model, dataset, k=10, negatives=99, seed=42)   # HR@k, NDCG@k
Metric functions are in training.metrics, splits in training.splits.

Configuration: the `training:` section (training.config.TrainingConfig). limit_threads(n) caps
BLAS and TensorFlow threads for a training process.
"""

from training.base import EpochCallback, ModelError, Recommender, load_model
from training.evaluation import evaluate_leave_one_out, evaluate_ranking, evaluate_rating_cv
from training.runtime import limit_threads

__all__ = [
    "EpochCallback",
    "ModelError",
    "Recommender",
    "evaluate_leave_one_out",
    "evaluate_ranking",
    "evaluate_rating_cv",
    "limit_threads",
    "load_model",
]
