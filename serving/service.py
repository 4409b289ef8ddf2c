"""What one serving replica does, apart from HTTP: answer from the current model version with the
listener's online features, cache per listener, publish events and log every served list."""

from __future__ import annotations

import time
from typing import Any

from hz45.settings import KafkaTopics
from serving.cache import ListenerCache
from serving.config import ServingConfig
from serving.features import OnlineFeatures
from serving.producer import BackgroundProducer
from serving.reclog import LogBatcher, log_record, new_request_id
from serving.registry import LoadedVersion, NoChampion, no_champion_message
from serving.watcher import ModelWatcher


def merge_context(streamed: list[int], explicit: list[int], limit: int) -> list[int]:
    """The model's context, newest last: the streamed plays (the feature topic lists them newest
    first), then the request's own recent tracks. A track that appears twice counts at its latest
    position; the request's tracks are never cut, the streamed ones are cut to `limit` in all."""
    out: list[int] = []
    seen: set[int] = set()
    for track in reversed([*reversed(streamed), *explicit]):
        if track not in seen:
            seen.add(track)
            out.append(track)
    out.reverse()
    keep = max(limit, len(explicit))
    return out[len(out) - keep :] if keep else []


class RecommendationService:
    def __init__(
        self,
        config: ServingConfig,
        topics: KafkaTopics,
        watcher: ModelWatcher,
        features: OnlineFeatures,
        producer: BackgroundProducer,
        log: LogBatcher,
        cache: ListenerCache,
        ack_timeout_s: float,
    ):
        self.config = config
        self.topics = topics
        self.watcher = watcher
        self.features = features
        self.producer = producer
        self.log = log
        self.cache = cache
        self.ack_timeout_s = ack_timeout_s

    def current(self) -> LoadedVersion:
        loaded = self.watcher.current
        if loaded is None:
            raise NoChampion(no_champion_message(self.config.model_name, self.config.alias))
        return loaded

    def recommend(self, user_id: int, n: int, context: list[int], exclude: list[int]) -> dict[str, Any]:
        started = time.perf_counter()
        loaded = self.current()  # one version for the whole request, even if a swap happens now
        version = loaded.ref.version
        key = (n, tuple(context), tuple(exclude))
        # Taken before computing, so a feature update arriving meanwhile keeps the result out of
        # the cache instead of pinning a stale list for a whole TTL.
        generation = self.cache.generation(user_id)
        body = self.cache.get(user_id, key, version)
        cached = body is not None
        if body is None:
            body = self._compute(loaded, user_id, n, context, exclude)
            self.cache.put(user_id, key, version, body, generation)
        request_id = new_request_id()
        latency_ms = (time.perf_counter() - started) * 1000
        self._log(request_id, user_id, body, cached, latency_ms)
        return {"request_id": request_id, "cached": cached, **body}

    def _compute(
        self, loaded: LoadedVersion, user_id: int, n: int, context: list[int], exclude: list[int]
    ) -> dict[str, Any]:
        streamed = self.features.recent_tracks(user_id)
        result = loaded.model.recommend(
            user_id, n, merge_context(streamed, context, self.config.context_tracks), exclude
        )
        return {
            "user_id": user_id,
            "items": [{"item_id": r.item_id, "score": r.score, "reason": r.reason} for r in result.items],
            "cold_start": result.cold_start,
            "online_features": bool(streamed),
            "model": {"name": loaded.ref.name, "version": loaded.ref.version},
        }

    def _log(self, request_id: str, user_id: int, body: dict[str, Any], cached: bool, latency_ms: float) -> None:
        self.log.add(log_record(
            request_id=request_id,
            listener_id=user_id,
            items=[i["item_id"] for i in body["items"]],
            scores=[i["score"] for i in body["items"]],
            model_name=body["model"]["name"],
            model_version=body["model"]["version"],
            cold_start=body["cold_start"],
            cached=cached,
            latency_ms=latency_ms,
        ))

    def similar(self, track_id: int, n: int) -> dict[str, Any]:
        loaded = self.current()
        items = loaded.model.similar(track_id, n)
        return {
            "track_id": track_id,
            "items": [{"item_id": r.item_id, "score": r.score, "reason": r.reason} for r in items],
            "model": {"name": loaded.ref.name, "version": loaded.ref.version},
        }

    async def publish_event(self, listener_id: int, payload: bytes) -> dict[str, Any]:
        """Produce a validated event to the raw topic; the listener's cached lists here are dropped
        at once (other replicas drop theirs when the feature update arrives)."""
        metadata = await self.producer.send_and_wait(self.topics.raw_events, listener_id, payload, self.ack_timeout_s)
        self.cache.invalidate(listener_id)
        return {"accepted": True, "topic": metadata.topic, "partition": metadata.partition, "offset": metadata.offset}

    def on_feature_update(self, listener_id: int) -> None:
        self.cache.invalidate(listener_id)

    def on_swap(self, loaded: LoadedVersion) -> None:
        # Entries carry their version and already miss; clearing frees their memory now.
        self.cache.clear()

    def model_info(self) -> dict[str, Any]:
        return self.current().describe()

    def health(self) -> dict[str, Any]:
        loaded = self.watcher.current
        return {
            "status": "ok" if loaded is not None else "no_model",
            "model": loaded.describe() if loaded else None,
            "watcher": {"swaps": self.watcher.swaps, "last_error": self.watcher.last_error},
            "features": self.features.status(),
            "kafka": {
                "connected": self.producer.connected,
                "failed_sends": self.producer.failed_sends,
                "dropped_log_records": self.log.dropped,
                "last_error": self.producer.last_error,
            },
            "cache": {"entries": len(self.cache), "hits": self.cache.hits, "misses": self.cache.misses},
        }

    def close(self) -> None:
        self.watcher.stop()
        self.features.stop()
        self.log.stop()
        self.producer.close()
