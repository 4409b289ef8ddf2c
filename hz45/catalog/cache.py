"""A Parquet cache of loaded datasets, so the second load of a derived table is fast.

The key covers everything the result depends on: the dataset name, its options, the checksums of
its source files and of the catalog's own code, so a changed file or loader never serves stale data.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hz45.catalog.base import Dataset

FRAMES = ("interactions", "items", "users", "artists")
CODE_DIR = Path(__file__).resolve().parent


def file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def key(name: str, options: dict, sources: list[Path]) -> str:
    code = [file_digest(p) for p in sorted(CODE_DIR.glob("*.py"))]
    parts = {
        "name": name,
        "options": {k: str(v) for k, v in sorted(options.items())},
        "sources": [(p.name, file_digest(p)) for p in sources],
        "code": code,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def read(folder: Path) -> Dataset | None:
    meta = folder / "dataset.json"
    if not meta.exists():
        return None
    info = json.loads(meta.read_text())
    frames = {name: _read_frame(folder / f"{name}.parquet") for name in FRAMES}
    extras = {name: _read_frame(folder / "extras" / f"{name}.parquet") for name in info["extras"]}
    return Dataset(name=info["name"], extras=extras, notes=info["notes"], **frames)


def write(dataset: Dataset, folder: Path) -> None:
    """Write to a private temporary folder and rename it into place, so a reader never sees half
    an entry and two processes filling the same entry do not clash (the first rename wins; the
    entries are equal, as the key says)."""
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    (tmp / "extras").mkdir(parents=True)
    for name in FRAMES:
        _write_frame(getattr(dataset, name), tmp / f"{name}.parquet")
    for name, frame in dataset.extras.items():
        _write_frame(frame, tmp / "extras" / f"{name}.parquet")
    info = {"name": dataset.name, "extras": list(dataset.extras), "notes": dataset.notes}
    (tmp / "dataset.json").write_text(json.dumps(info, indent=1))
    try:
        tmp.rename(folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def _read_frame(path: Path) -> pd.DataFrame:
    table = pq.read_table(path)
    frame = table.to_pandas()
    # Arrow hands list columns back as numpy arrays; the contract says lists.
    for field in table.schema:
        if pa.types.is_list(field.type):
            frame[field.name] = frame[field.name].map(list)
    return frame
