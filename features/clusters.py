"""Standardised audio features and KMeans clusters of tracks, k chosen by silhouette.

Tracks with at least one known audio feature get a vector: a missing feature takes the feature's
mean, then every feature is standardised (mean 0, sample standard deviation 1, Spark ML's
StandardScaler). Tracks with no audio at all get neither a vector nor a cluster. KMeans is fitted
for every k in the configured range on a seeded sample (silhouette costs a pass per point), the k
with the best silhouette wins, ties to the smaller k, and the final model is fitted on all tracks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pyspark.ml import Pipeline
from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import Imputer, StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.config import ClusterOptions
from features.tables import Z_COLUMNS
from hz45.catalog.base import AUDIO_FEATURES

log = logging.getLogger(__name__)
VECTOR = "_z"


@dataclass
class Clustering:
    tracks: DataFrame  # the clean tracks with the Z_COLUMNS and `cluster`
    # One row per cluster: cluster, k, silhouette, size, then the center per audio feature.
    centers: list[tuple] = field(default_factory=list)
    k: int | None = None
    silhouettes: dict[int, float] = field(default_factory=dict)


def cluster_tracks(tracks: DataFrame, options: ClusterOptions, seed: int) -> Clustering:
    """`tracks` (clean) with standardised audio features and a cluster per track with audio."""
    known = tracks.agg(
        F.sum(F.col("has_audio").cast("long")).alias("_audio"),
        *(F.count(name).alias(name) for name in AUDIO_FEATURES),
    ).first()
    present = [name for name in AUDIO_FEATURES if known[name]]
    n_audio = known["_audio"] or 0
    if n_audio < 2:
        log.info("clusters: %d tracks with audio features, nothing to standardise or cluster", n_audio)
        return Clustering(_unknown(tracks))
    without = _unknown(tracks.where(~F.col("has_audio")))

    imputed = [f"_imputed_{name}" for name in present]
    pipeline = Pipeline(stages=[
        Imputer(inputCols=present, outputCols=imputed, strategy="mean"),
        VectorAssembler(inputCols=imputed, outputCol="_raw"),
        StandardScaler(inputCol="_raw", outputCol=VECTOR, withMean=True, withStd=True),
    ])
    audio = tracks.where(F.col("has_audio"))
    # Not cached here: KMeans caches its own input while it iterates.
    vectors = pipeline.fit(audio).transform(audio).drop("_raw", *imputed)
    k, silhouettes = _choose_k(vectors, n_audio, options, seed)
    if k is None:
        clustered, centers = vectors.withColumn("cluster", F.lit(None).cast("int")), []
    else:
        model = KMeans(k=k, seed=seed, maxIter=options.max_iter, featuresCol=VECTOR, predictionCol="cluster").fit(vectors)
        clustered = model.transform(vectors).withColumn("cluster", F.col("cluster").cast("int"))
        centers = _centers(model, present, k, silhouettes[k])
    with_audio = _expand(clustered, present).select(*without.columns)
    return Clustering(with_audio.unionByName(without), centers, k, silhouettes)


def _choose_k(vectors: DataFrame, n: int, options: ClusterOptions, seed: int) -> tuple[int | None, dict[int, float]]:
    fraction = min(1.0, options.sample_size / n)
    sample = vectors.sample(withReplacement=False, fraction=fraction, seed=seed).persist()
    rows = sample.count()
    evaluator = ClusteringEvaluator(featuresCol=VECTOR, predictionCol="_cluster", metricName="silhouette")
    scores: dict[int, float] = {}
    for k in range(options.k_min, min(options.k_max, rows - 1) + 1):
        model = KMeans(k=k, seed=seed, maxIter=options.max_iter, featuresCol=VECTOR, predictionCol="_cluster").fit(sample)
        scores[k] = float(evaluator.evaluate(model.transform(sample)))
        log.info("clusters: k=%d silhouette %.4f on %d sampled tracks", k, scores[k], rows)
    sample.unpersist()
    if not scores:
        return None, scores
    return max(scores, key=lambda k: (scores[k], -k)), scores


def _unknown(tracks: DataFrame) -> DataFrame:
    """Tracks without a vector: null standardised features and cluster."""
    return tracks.select(
        "*", *(F.lit(None).cast("double").alias(z) for z in Z_COLUMNS), F.lit(None).cast("int").alias("cluster")
    )


def _expand(df: DataFrame, present: list[str]) -> DataFrame:
    """The vector as one column per audio feature; features unknown everywhere stay null."""
    array = vector_to_array(F.col(VECTOR))
    index = {name: i for i, name in enumerate(present)}
    zs = [
        (array[index[name]] if name in index else F.lit(None).cast("double")).alias(z)
        for name, z in zip(AUDIO_FEATURES, Z_COLUMNS)
    ]
    return df.select("*", *zs).drop(VECTOR)


def _centers(model, present: list[str], k: int, silhouette: float) -> list[tuple]:
    sizes = model.summary.clusterSizes
    rows = []
    for cluster, center in enumerate(model.clusterCenters()):
        coords = dict(zip(present, (float(v) for v in center)))
        rows.append((cluster, k, silhouette, int(sizes[cluster]), *(coords.get(name) for name in AUDIO_FEATURES)))
    return rows
