"""Search spaces: YAML in configs/search_spaces/<name>.yaml -> typed, validated -> Ray Tune domains.

A space names the model (a name `training.models.make_model` knows), the metric the search
optimises and its direction, fixed constructor arguments and the searched ones:

    model: svd
    metric: rmse
    mode: min
    fixed: {seed: 42}
    params:
      n_factors: {type: int, low: 20, high: 200}           # both ends included
      lr_all: {type: loguniform, low: 0.002, high: 0.02}
      biased: {type: choice, values: [true, false]}

Every key, fixed or searched, must be a constructor argument of the model (or, for the hybrid,
its blend weights `weights.<component>`), so a typo fails at load with the key named. A dotted
key sets one entry of a dict argument.
Optuna only samples scalars, so list-valued choices (MLP layer sizes) travel as JSON strings and
`decode` turns them back.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hz45.errors import ConfigError
from training.models import MODELS


# Fitted state a sweep may set directly besides constructor arguments: the hybrid's blend weights.
SEARCHABLE_STATE = {"hybrid": {"weights"}}


class _Domain(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Range(_Domain):
    """A numeric range; log-scaled types need a positive lower end."""

    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high or (self.low == self.high and isinstance(self, Uniform)):
            raise ValueError("low must be below high")
        if self.type.startswith("log") and self.low <= 0:
            raise ValueError(f"{self.type} needs low > 0")
        return self


class Uniform(_Range):
    type: Literal["uniform", "loguniform"]
    low: float
    high: float


    def to_tune(self):
        from ray import tune

        return (tune.loguniform if self.type == "loguniform" else tune.uniform)(self.low, self.high)

    def upper(self) -> float:
        return self.high


class Integer(_Range):
    type: Literal["int", "logint"]
    low: int
    high: int


    def to_tune(self):
        from ray import tune

        # Ray's integer domains exclude their upper end; the YAML's `high` is included.
        return (tune.lograndint if self.type == "logint" else tune.randint)(self.low, self.high + 1)

    def upper(self) -> float:
        return self.high


class Choice(_Domain):
    type: Literal["choice"]
    values: list[Any] = Field(min_length=1)

    @property
    def encoded(self) -> bool:
        return any(isinstance(v, list | dict) for v in self.values)

    def to_tune(self):
        from ray import tune

        return tune.choice([json.dumps(v) for v in self.values] if self.encoded else self.values)

    def upper(self) -> float:
        return max(float(v) for v in self.values)


Domain = Annotated[Uniform | Integer | Choice, Field(discriminator="type")]


class SearchSpace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    metric: str
    mode: Literal["min", "max"]
    fixed: dict[str, Any] = {}
    params: dict[str, Domain] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_keys(self) -> SearchSpace:
        if self.model not in MODELS:
            raise ValueError(f"unknown model '{self.model}' (one of {', '.join(sorted(MODELS))})")
        accepted = set(inspect.signature(MODELS[self.model].__init__).parameters) - {"self"}
        accepted |= SEARCHABLE_STATE.get(self.model, set())
        for key in [*self.fixed, *self.params]:
            if key.split(".")[0] not in accepted:
                raise ValueError(f"'{key}' is not a parameter of model '{self.model}'")
        both = set(self.fixed) & set(self.params)
        if both:
            raise ValueError(f"'{sorted(both)[0]}' is both fixed and searched")
        return self

    def replace(self, **changes: Any) -> SearchSpace:
        """A copy with top-level keys replaced, validated like the YAML (tests, quick sweeps)."""
        return SearchSpace.model_validate({**self.model_dump(), **changes})

    def to_tune(self) -> dict[str, Any]:
        """The searched parameters as Ray Tune domains (Optuna converts them)."""
        return {name: domain.to_tune() for name, domain in self.params.items()}

    def decode(self, config: dict[str, Any]) -> dict[str, Any]:
        """A trial's sampled config plus the fixed arguments -> the model's keyword arguments."""
        flat = dict(self.fixed)
        for name, value in config.items():
            domain = self.params.get(name)
            flat[name] = json.loads(value) if isinstance(domain, Choice) and domain.encoded else value
        params: dict[str, Any] = {}
        for name, value in flat.items():
            head, _, leaf = name.partition(".")
            if leaf:
                params.setdefault(head, {})[leaf] = value
            else:
                params[name] = value
        return params

    def upper(self, name: str) -> float | None:
        """The largest value a parameter can take in this space (fixed or searched)."""
        if name in self.params:
            return self.params[name].upper()
        return self.fixed.get(name)


def load_space(path: Path) -> SearchSpace:
    """Read and validate a search space."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"search space {path} not found", "see configs/search_spaces/") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"search space {path.name} is not valid YAML: {exc}".replace("\n", " ")) from None
    try:
        return SearchSpace.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path.stem)) from None


def _describe(exc: ValidationError, space: str) -> str:
    """The first problem, naming the key (`svd.params.lr_all.low`), in the settings' wording."""
    err = exc.errors()[0]
    key = ".".join(str(p) for p in (space, *err["loc"]))
    if err["type"] == "extra_forbidden":
        return f"search space: unknown key '{key}'"
    if err["type"] == "missing":
        return f"search space: missing key '{key}'"
    message = err["msg"].removeprefix("Value error, ")
    return f"search space: bad value for '{key}': {message}"
