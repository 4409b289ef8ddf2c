"""Builds a replica's parts from the configuration: registry, watcher, feature store, producer,
cache, and the recommendation log sink. Every address comes from the settings."""

from __future__ import annotations

from kafka import KafkaConsumer, KafkaProducer
from pymongo import MongoClient

from hz45.settings import Settings
from serving.cache import ListenerCache
from serving.config import ServingConfig, serving_config
from serving.features import OnlineFeatures
from serving.producer import BackgroundProducer
from serving.reclog import LogSink
from serving.registry import Registry, tracking_uri
from serving.service import RecommendationService
from serving.watcher import ModelWatcher


def _producer(settings: Settings) -> KafkaProducer:
    k = settings.kafka
    return KafkaProducer(
        bootstrap_servers=k.bootstrap_servers,
        client_id=f"{k.client_id}-serving",
        acks="all",
        linger_ms=5,
        # send() runs on the request path: never wait long for topic metadata there.
        max_block_ms=2000,
        request_timeout_ms=k.timeout_ms,
    )


def _feature_consumer(settings: Settings) -> KafkaConsumer:
    k = settings.kafka
    # No consumer group: every replica reads every partition of the compacted topic.
    return KafkaConsumer(
        bootstrap_servers=k.bootstrap_servers,
        client_id=f"{k.client_id}-serving-features",
        group_id=None,
        enable_auto_commit=False,
        # An idle fetch returns after this long, which bounds how stale a replica can be.
        fetch_max_wait_ms=100,
        request_timeout_ms=max(k.timeout_ms, 30000),
    )


def create_service(settings: Settings, config: ServingConfig | None = None) -> RecommendationService:
    """A started service: the alias's model loaded, the feature topic being replayed."""
    config = config or serving_config(settings)
    registry = Registry(tracking_uri(settings), config.model_name, config.alias)
    watcher = ModelWatcher(registry, config.watch_interval_s)
    features = OnlineFeatures(lambda: _feature_consumer(settings), settings.kafka.topics.user_features)
    service = RecommendationService(
        config=config,
        topics=settings.kafka.topics,
        watcher=watcher,
        features=features,
        producer=BackgroundProducer(lambda: _producer(settings)),
        cache=ListenerCache(config.cache_ttl_s, config.cache_max_entries),
        ack_timeout_s=settings.kafka.timeout_ms / 1000,
    )
    watcher.on_swap = service.on_swap
    features.on_update = service.on_feature_update
    service.producer.start()
    features.start()
    watcher.start()
    return service


def create_log_sink(settings: Settings, config: ServingConfig | None = None) -> LogSink:
    config = config or serving_config(settings)
    k, m = settings.kafka, settings.mongo

    def consumer() -> KafkaConsumer:
        return KafkaConsumer(
            k.topics.recommendation_log,
            bootstrap_servers=k.bootstrap_servers,
            client_id=f"{k.client_id}-recommendation-log-sink",
            group_id=config.log_sink.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    # The client connects lazily and reconnects by itself, so one serves every retry.
    client = MongoClient(m.uri, serverSelectionTimeoutMS=m.timeout_ms)

    def collection():
        return client[m.database][config.log_sink.collection]

    return LogSink(consumer, collection, config.log_sink.batch_size)
