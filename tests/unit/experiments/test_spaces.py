"""Search spaces: the YAML in configs/ validates, a bad key fails naming the key, and a sampled
config decodes into the model's keyword arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hz45.errors import ConfigError
from hz45.settings import load_settings
from experiments.spaces import load_space
from training.models import make_model


def spaces_dir() -> Path:
    settings = load_settings()
    return settings.path("configs/search_spaces")


@pytest.mark.parametrize("name", ["svd", "ncf", "hybrid"])
def test_shipped_spaces_validate_and_convert(name: str) -> None:
    space = load_space(spaces_dir() / f"{name}.yaml")
    domains = space.to_tune()
    assert set(domains) == set(space.params)
    assert space.mode in ("min", "max")


def test_svd_space_samples_build_a_model() -> None:
    space = load_space(spaces_dir() / "svd.yaml")
    sampled = {name: domain.sample() for name, domain in space.to_tune().items()}
    model = make_model(space.model, **space.decode(sampled))
    assert 20 <= model.n_factors <= 200
    assert model.seed == 42


def test_list_valued_choices_travel_as_json_and_decode_back() -> None:
    space = load_space(spaces_dir() / "ncf.yaml")
    domain = space.to_tune()["mlp_layers"]
    assert all(isinstance(c, str) for c in domain.categories)
    params = space.decode({"mlp_layers": "[64, 32, 16]", "factors": 16})
    assert params["mlp_layers"] == [64, 32, 16]
    assert params["refit"] is False


def test_dotted_keys_build_a_dict_argument() -> None:
    space = load_space(spaces_dir() / "hybrid.yaml")
    params = space.decode({"weights.svd": 0.2, "weights.als": 0.8})
    assert params == {"weights": {"svd": 0.2, "als": 0.8}}


def write(tmp_path: Path, body: dict) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


BASE = {"model": "svd", "metric": "rmse", "mode": "min", "params": {"n_factors": {"type": "int", "low": 5, "high": 9}}}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"params": {"n_factor": {"type": "int", "low": 1, "high": 2}}}, "n_factor"),
        ({"fixed": {"learning_rate": 0.1}}, "learning_rate"),
        ({"params": {"lr_all": {"type": "loguniform", "low": 0.0, "high": 0.1}}}, "space.params.lr_all"),
        ({"params": {"lr_all": {"type": "uniform", "low": 0.1, "high": 0.1}}}, "space.params.lr_all"),
        ({"params": {"lr_all": {"type": "normal", "low": 0.1, "high": 0.2}}}, "space.params.lr_all"),
        ({"params": {"lr_all": {"type": "uniform", "low": 0.1, "high": 0.2, "step": 1}}}, "step"),
        ({"mode": "up"}, "space.mode"),
        ({"model": "nope"}, "nope"),
        ({"color": "red"}, "space.color"),
    ],
)
def test_bad_space_names_the_key(tmp_path: Path, change: dict, named: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_space(write(tmp_path, {**BASE, **change}))
    assert named in str(err.value)


def test_a_key_both_fixed_and_searched_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="n_factors"):
        load_space(write(tmp_path, {**BASE, "fixed": {"n_factors": 10}}))


def test_missing_space_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_space(tmp_path / "absent.yaml")


def test_integer_range_includes_its_upper_end(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, {**BASE, "params": {"n_factors": {"type": "int", "low": 3, "high": 4}}}))
    samples = {space.to_tune()["n_factors"].sample() for _ in range(200)}
    assert samples == {3, 4}
    assert space.upper("n_factors") == 4
