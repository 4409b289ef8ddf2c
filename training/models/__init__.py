"""The models, by the name `make_model` and `hz45 train` know them by."""

from __future__ import annotations

from typing import Any

from training.base import ModelError, Recommender
from training.models.als import ImplicitALS
from training.models.content import ContentBased
from training.models.hybrid import Hybrid
from training.models.ncf import NeuralCF
from training.models.rating_blend import RatingBlend
from training.models.surprise_models import SVD, KNNBaseline, SVDpp

MODELS: dict[str, type[Recommender]] = {
    cls.name: cls for cls in (SVD, SVDpp, KNNBaseline, NeuralCF, ImplicitALS, ContentBased, Hybrid, RatingBlend)
}


def make_model(name: str, **params: Any) -> Recommender:
    """A new, unfitted model by name, configured by keyword arguments."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model '{name}'", f"one of {', '.join(sorted(MODELS))}") from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise ModelError(f"model '{name}': {exc}") from None


__all__ = ["MODELS", "SVD", "ContentBased", "Hybrid", "ImplicitALS", "KNNBaseline", "NeuralCF", "RatingBlend", "SVDpp", "make_model"]
