import numpy as np

from training.models.retrieval import BlendIndex, Block


def grouped_rows(rng, n, dims, groups, noise):
    """Rows around a few group centres, as learned item factors and audio vectors cluster."""
    member = rng.integers(0, groups, n)
    return (rng.normal(size=(groups, dims))[member] + noise * rng.normal(size=(n, dims))).astype(np.float32)


def test_whitened_rows_give_the_zscores_of_the_raw_scores():
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(500, 6)).astype(np.float32) * [1, 2, 3, 0, 5, 1] + 4  # a constant column
    known = rng.random(500) < 0.7
    block = Block.build("als", rows, None, known)
    query = rng.normal(size=6)
    raw = rows[known] @ query
    z = block.zscores(np.arange(500), block.unit_query(query))
    np.testing.assert_allclose(z[known], (raw - raw.mean()) / raw.std(), atol=1e-4)
    assert np.isnan(z[~known]).all()


def test_clustered_search_finds_nearly_the_exact_top_items():
    rng = np.random.default_rng(0)
    n = 40_000
    known = rng.random(n) < 0.6
    blocks = [
        Block.build("als", grouped_rows(rng, n, 16, 200, 0.5), None, known),
        Block.build("content", grouped_rows(rng, n, 8, 200, 0.7), None, np.ones(n, dtype=bool)),
    ]
    weights = {"als": 0.6, "content": 0.4}
    clustered = BlendIndex(blocks, weights, "content", scan=4_000)
    exact = BlendIndex(blocks, weights, "content", scan=n)
    assert len(clustered.centroids) == 200 and len(exact.centroids) == 1
    recall = []
    for _ in range(50):
        units = clustered.units({"als": rng.normal(size=16), "content": rng.normal(size=8)})
        found, truth = clustered.search(units, 10), exact.search(units, 10)
        recall.append(len(set(found) & set(truth)) / 10)
    assert np.mean(recall) >= 0.9


def test_items_a_component_does_not_know_rank_by_content_in_its_place():
    rng = np.random.default_rng(2)
    als = rng.normal(size=(100, 4)).astype(np.float32)
    content = rng.normal(size=(100, 3)).astype(np.float32)
    known = np.ones(100, dtype=bool)
    known[:10] = False
    blocks = [Block.build("als", als, None, known), Block.build("content", content, None, np.ones(100, dtype=bool))]
    index = BlendIndex(blocks, {"als": 0.5, "content": 0.5}, "content", scan=100)
    units = index.units({"als": rng.normal(size=4), "content": rng.normal(size=3)})
    everything = index.search(units, 100)
    contributions, content_z = index.contributions(everything, units)
    unknown = ~known[everything]
    np.testing.assert_allclose(contributions["als"][unknown], 0.5 * content_z[unknown], atol=1e-6)
    blended = contributions["als"] + contributions["content"]
    assert (np.diff(blended) <= 1e-5).all()  # search's order is the blend's
