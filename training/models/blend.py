"""The base of models made of named component models (the hybrid, the rating blend).

Fitting follows one recipe: the components are fitted on most of the training data, the blend's
own parameters on the held-out rest (per-user stratified, or the `valid` frame given to fit), and
with `refit` the components are fitted again on all of it, so the held-out rows are not lost.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path

import pandas as pd

from training.base import Recommender, load_model
from training.splits import stratified_split

COMPONENTS_DIR = "components"


class Blend(Recommender):
    components: dict[str, dict]
    validation_share: float
    refit: bool
    seed: int
    parts: dict[str, Recommender]

    def _fit(self, train, *, items, valid, callbacks) -> None:
        from training.models import make_model

        if valid is None:
            inner, valid = stratified_split(train, 1.0 - self.validation_share, self.seed)
        else:
            inner, train = train, pd.concat([train, valid], ignore_index=True)
        parts = {name: make_model(name, **params) for name, params in self.components.items()}
        self._check_parts(parts)
        for part in parts.values():
            part.fit(inner, items=items)
        self._fit_blend(parts, inner, valid)
        if self.refit:
            parts = {name: part.clone().fit(train, items=items) for name, part in parts.items()}
        self._set_parts(parts, train, items)

    def _check_parts(self, parts: dict[str, Recommender]) -> None:
        """Refuse components the blend cannot use (before any is fitted)."""

    @abstractmethod
    def _fit_blend(self, parts: dict[str, Recommender], inner: pd.DataFrame, valid: pd.DataFrame) -> None:
        """Fit the blend's own parameters on `valid`, the components being fitted on `inner`."""

    @abstractmethod
    def _set_parts(self, parts: dict[str, Recommender], train: pd.DataFrame, items: pd.DataFrame | None) -> None:
        """Keep the final components (fitted on `train`) and whatever the blend derives from them."""

    def _save_parts(self, path: Path) -> None:
        for name, part in self.parts.items():
            part.save(path / COMPONENTS_DIR / name)

    def _load_parts(self, path: Path) -> dict[str, Recommender]:
        return {name: load_model(path / COMPONENTS_DIR / name) for name in self.components}
