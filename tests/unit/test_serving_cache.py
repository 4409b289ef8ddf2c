"""The per-listener response cache: TTL, invalidation by listener, promotion, eviction."""

from serving.cache import ListenerCache


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def cache(ttl=10.0, max_entries=100):
    clock = Clock()
    return ListenerCache(ttl, max_entries, clock=clock), clock


def test_hit_until_the_ttl_runs_out():
    c, clock = cache(ttl=10)
    c.put(1, "k", "v1", {"items": [1]}, c.generation(1))
    clock.now = 9.9
    assert c.get(1, "k", "v1") == {"items": [1]}
    clock.now = 10.0
    assert c.get(1, "k", "v1") is None
    assert (c.hits, c.misses) == (1, 1)


def test_an_entry_of_another_model_version_misses():
    c, _ = cache()
    c.put(1, "k", "v1", "old", c.generation(1))
    assert c.get(1, "k", "v2") is None


def test_invalidate_drops_only_that_listener():
    c, _ = cache()
    for listener in (1, 2):
        for key in ("a", "b"):
            c.put(listener, key, "v1", (listener, key), c.generation(listener))
    c.invalidate(1)
    assert c.get(1, "a", "v1") is None and c.get(1, "b", "v1") is None
    assert c.get(2, "a", "v1") == (2, "a")
    assert len(c) == 2


def test_a_result_computed_across_an_invalidation_is_not_kept():
    c, _ = cache()
    before = c.generation(1)
    c.invalidate(1)  # a feature update arrives while the list is being computed
    c.put(1, "k", "v1", "stale", before)
    assert c.get(1, "k", "v1") is None
    c.put(1, "k", "v1", "fresh", c.generation(1))
    assert c.get(1, "k", "v1") == "fresh"


def test_clear_drops_everything_and_in_flight_results():
    c, _ = cache()
    before = c.generation(3)
    c.put(1, "k", "v1", "x", c.generation(1))
    c.clear()
    c.put(3, "k", "v1", "computed before the swap", before)
    assert len(c) == 0


def test_oldest_entries_are_evicted_beyond_the_bound():
    c, _ = cache(max_entries=3)
    for listener in range(5):
        c.put(listener, "k", "v1", listener, c.generation(listener))
    assert len(c) == 3
    assert c.get(0, "k", "v1") is None and c.get(1, "k", "v1") is None
    assert c.get(4, "k", "v1") == 4
    c.invalidate(0)  # an evicted listener has nothing left to drop
    assert len(c) == 3


def test_a_zero_ttl_turns_the_cache_off():
    c, _ = cache(ttl=0)
    c.put(1, "k", "v1", "x", c.generation(1))
    assert c.get(1, "k", "v1") is None and len(c) == 0
