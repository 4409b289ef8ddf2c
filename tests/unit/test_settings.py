"""Typed configuration: a wrong value or an unknown key fails at load, naming the key; the
environment overrides YAML."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hz45.errors import ConfigError
from hz45.settings import ROOT, load_settings


def test_defaults_load_and_resolve_paths_against_the_repository():
    settings = load_settings(environ={})
    assert settings.profile == "default"
    assert settings.sql.url.startswith("sqlite:///")
    assert settings.path(settings.services.run_dir) == ROOT / "run"
    assert settings.path("/abs/elsewhere") == Path("/abs/elsewhere")


def test_environment_overrides_yaml_with_typed_values():
    settings = load_settings(environ={
        "HZ45_KAFKA__PARTITIONS": "7",
        "HZ45_SQL__URL": "sqlite:///data/other.db",
        "HZ45_SERVICES__MARIADB__PORT": "13306",
    })
    assert settings.kafka.partitions == 7
    assert settings.sql.url == "sqlite:///data/other.db"
    assert settings.services.mariadb.port == 13306


def test_services_profile_points_the_main_db_at_mariadb():
    settings = load_settings(profile="services", environ={})
    assert settings.sql.url.startswith("mysql+pymysql://")
    assert f":{settings.services.mariadb.port}/" in settings.sql.url


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HZ45_KAFKA__PARTITIONS": "0"}, "bad value for 'kafka.partitions'"),
        ({"HZ45_KAFKA__PARTITIONS": "many"}, "bad value for 'kafka.partitions'"),
        ({"HZ45_MONGO__TIMEOUT_MS": "-5"}, "bad value for 'mongo.timeout_ms'"),
        ({"HZ45_SERVICES__KAFKA__PORT": "70000"}, "bad value for 'services.kafka.port'"),
        ({"HZ45_SQL__URLL": "sqlite://"}, "unknown key 'sql.urll'"),
        ({"HZ45_SERVICES__MONGOO__PORT": "1"}, "unknown key 'services.mongoo'"),
    ],
)
def test_a_bad_value_or_unknown_key_from_the_environment_names_the_key(env, message):
    with pytest.raises(ConfigError) as err:
        load_settings(environ=env)
    assert message in err.value.line()


def test_an_unknown_key_in_a_profile_file_names_it(tmp_path, monkeypatch):
    shutil.copy(ROOT / "configs" / "default.yaml", tmp_path / "default.yaml")
    (tmp_path / "typo.yaml").write_text("kafka:\n  partitons: 3\n")
    monkeypatch.setenv("HZ45_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        load_settings(profile="typo", environ={})
    assert "unknown key 'kafka.partitons'" in err.value.line()


def test_a_missing_profile_says_what_to_check(tmp_path, monkeypatch):
    shutil.copy(ROOT / "configs" / "default.yaml", tmp_path / "default.yaml")
    monkeypatch.setenv("HZ45_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="HZ45_PROFILE"):
        load_settings(profile="nope", environ={})


def test_the_cli_prints_a_bad_value_on_one_line_and_exits_2():
    env = {"PATH": "/usr/bin:/bin", "HZ45_KAFKA__PARTITIONS": "0"}
    proc = subprocess.run([sys.executable, "-m", "hz45.cli", "db", "init"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "kafka.partitions" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
