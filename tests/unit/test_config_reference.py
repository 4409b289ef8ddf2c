"""docs/configuration.md lists every key of configs/default.yaml with its current default."""

import subprocess
import sys
from pathlib import Path

import yaml

from hz45.settings import ROOT


def _leaf_keys(node: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in node.items():
        if isinstance(value, dict) and value:
            keys |= _leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.add(f"{prefix}{key}")
    return keys


def test_the_reference_page_is_current():
    done = subprocess.run([sys.executable, "scripts/config_reference.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_key_is_on_the_page():
    page = (ROOT / "docs" / "configuration.md").read_text()
    keys = _leaf_keys(yaml.safe_load(Path(ROOT, "configs", "default.yaml").read_text()))
    assert len(keys) > 50
    missing = [k for k in keys if f"| `{k}` |" not in page]
    assert not missing
