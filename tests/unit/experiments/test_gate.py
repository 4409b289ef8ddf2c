"""The promotion rule: margin on the primary metric, tolerances on the secondary ones, and the
configuration naming a metric the gate does not compute."""

from __future__ import annotations

import pytest

from hz45.errors import ConfigError
from experiments.config import PromotionConfig
from experiments.promotion import check_metrics, decide

CONFIG = PromotionConfig(primary_metric="ndcg_at_10", margin=0.01, secondary_tolerances={"coverage": 0.05})
CHAMPION = {"ndcg_at_10": 0.40, "coverage": 0.30}


def test_first_version_is_promoted_without_a_champion() -> None:
    promoted, reason = decide({"ndcg_at_10": 0.1, "coverage": 0.1}, None, CONFIG)
    assert promoted and "first version" in reason


def test_a_win_above_the_margin_is_promoted() -> None:
    promoted, reason = decide({"ndcg_at_10": 0.415, "coverage": 0.29}, CHAMPION, CONFIG)
    assert promoted, reason


def test_a_win_below_the_margin_is_refused() -> None:
    promoted, reason = decide({"ndcg_at_10": 0.405, "coverage": 0.40}, CHAMPION, CONFIG)
    assert not promoted
    assert "below the margin" in reason


def test_a_secondary_regression_beyond_its_tolerance_is_refused() -> None:
    promoted, reason = decide({"ndcg_at_10": 0.45, "coverage": 0.20}, CHAMPION, CONFIG)
    assert not promoted
    assert "coverage drops by 0.1000" in reason


def test_a_worse_challenger_is_refused() -> None:
    promoted, _ = decide({"ndcg_at_10": 0.30, "coverage": 0.30}, CHAMPION, CONFIG)
    assert not promoted


@pytest.mark.parametrize(
    ("config", "key"),
    [
        (PromotionConfig(primary_metric="ndcg@10"), "promotion.primary_metric"),
        (PromotionConfig(secondary_tolerances={"rmse": 0.01}), "promotion.secondary_tolerances.rmse"),
    ],
)
def test_unknown_gate_metrics_name_the_key(config: PromotionConfig, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_metrics(config, k=10)
    assert key in str(err.value)


def test_negative_tolerance_is_refused_at_load() -> None:
    with pytest.raises(ValueError, match="recall_at_10"):
        PromotionConfig(secondary_tolerances={"recall_at_10": -0.1})
