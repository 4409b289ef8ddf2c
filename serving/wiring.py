"""Builds a replica's parts from the configuration: registry, watcher, feature store, producer,
cache, and the recommendation log sink. Every address comes from the settings."""

from __future__ import annotations

from kafka import KafkaConsumer, KafkaProducer
from pymongo.collection import Collection

from hz45.settings import Settings
from hz45.stores import kafka as kafka_store
from hz45.stores import mongo as mongo_store
from serving.cache import ListenerCache
from serving.config import ServingConfig, serving_config
from serving.features import OnlineFeatures
from serving.producer import BackgroundProducer
from serving.reclog import LogBatcher, LogSink
from serving.registry import Registry, tracking_uri
from serving.service import RecommendationService
from serving.watcher import ModelWatcher


def _producer(settings: Settings) -> KafkaProducer:
    return kafka_store.producer(
        settings,
        client_id=f"{settings.kafka.client_id}-serving",
        acks="all",
        # Log records are fire-and-forget: gathering 20 ms of them per request to the broker costs
        # the broker and this replica far less CPU than one request per record.
        linger_ms=20,
        # send() runs on the request path: never wait long for topic metadata there.
        max_block_ms=2000,
    )


def _feature_consumer(settings: Settings) -> KafkaConsumer:
    # No consumer group: every replica reads every partition of the compacted topic.
    return kafka_store.consumer(
        settings=settings,
        client_id=f"{settings.kafka.client_id}-serving-features",
        group_id=None,
        enable_auto_commit=False,
        # An idle fetch returns after this long, which bounds how stale a replica can be.
        fetch_max_wait_ms=100,
    )


def create_service(settings: Settings, config: ServingConfig | None = None) -> RecommendationService:
    """A started service: the alias's model loaded, the feature topic being replayed."""
    config = config or serving_config(settings)
    registry = Registry(tracking_uri(settings), config.model_name, config.alias)
    watcher = ModelWatcher(registry, config.watch_interval_s)
    features = OnlineFeatures(lambda: _feature_consumer(settings), settings.kafka.topics.user_features)
    producer = BackgroundProducer(lambda: _producer(settings))
    service = RecommendationService(
        config=config,
        topics=settings.kafka.topics,
        watcher=watcher,
        features=features,
        producer=producer,
        log=LogBatcher(producer, settings.kafka.topics.recommendation_log, config.log_flush_interval_s),
        cache=ListenerCache(config.cache_ttl_s, config.cache_max_entries),
        ack_timeout_s=settings.kafka.timeout_ms / 1000,
    )
    watcher.on_swap = service.on_swap
    features.on_update = service.on_feature_update
    service.producer.start()
    service.log.start()
    features.start()
    watcher.start()
    return service


def create_log_sink(settings: Settings, config: ServingConfig | None = None) -> LogSink:
    config = config or serving_config(settings)

    def consumer() -> KafkaConsumer:
        return kafka_store.consumer(
            settings.kafka.topics.recommendation_log,
            settings=settings,
            client_id=f"{settings.kafka.client_id}-recommendation-log-sink",
            group_id=config.log_sink.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Fetch the log in batches of up to a second rather than a few records at a time:
            # the broker and this consumer then spend little CPU per served list.
            fetch_min_bytes=256 * 1024,
            fetch_max_wait_ms=1000,
        )

    def collection() -> Collection:
        return mongo_store.get_database(settings)[config.log_sink.collection]

    return LogSink(consumer, collection, config.log_sink.batch_size)
