"""The frozen holdout: rows set aside once, with a fixed seed, that no sweep ever trains or
validates on, so champion and challenger are always judged on the same unseen data.

It is written on first use to <holdout.dir>/<dataset label>/ (holdout.parquet + manifest.json with
the seed, the share and two digests: of the holdout rows, and of the data it was cut from). Later
uses read the saved rows, never re-split, and refuse to run when the data has changed under it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from hz45.errors import Hz45Error
from training.splits import stratified_split

KEY_COLUMNS = ["user_id", "item_id", "event_type", "value", "timestamp"]
MANIFEST = "manifest.json"
ROWS = "holdout.parquet"


def frame_digest(frame: pd.DataFrame) -> str:
    """A digest of every row (order-independent), so any change to the data changes it."""
    cols = [c for c in KEY_COLUMNS if c in frame.columns]
    rows = frame[cols].sort_values(cols, kind="stable").reset_index(drop=True)
    return hashlib.sha256(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class Holdout:
    label: str
    rows: pd.DataFrame
    digest: str
    source_digest: str
    path: Path

    def development(self, interactions: pd.DataFrame) -> pd.DataFrame:
        """The interactions minus the holdout rows: everything sweeps may learn from."""
        cols = [c for c in KEY_COLUMNS if c in interactions.columns]
        marked = interactions.merge(self.rows[cols].drop_duplicates(), on=cols, how="left", indicator=True)
        return marked[marked["_merge"] == "left_only"].drop(columns="_merge").reset_index(drop=True)


def frozen_holdout(interactions: pd.DataFrame, label: str, folder: Path, share: float, seed: int) -> Holdout:
    """The holdout of a dataset, cut and saved the first time, read back afterwards."""
    where = folder / re.sub(r"[^A-Za-z0-9_.-]+", "_", label)
    source_digest = frame_digest(interactions)
    manifest_path = where / MANIFEST
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest["source_digest"] != source_digest:
            raise Hz45Error(
                f"the frozen holdout of '{label}' was cut from different data "
                f"(digest {manifest['source_digest']}, now {source_digest})",
                f"delete {where} to freeze a new one; earlier holdout metrics then no longer compare",
            )
        rows = pd.read_parquet(where / ROWS)
        if frame_digest(rows) != manifest["digest"]:
            raise Hz45Error(f"the frozen holdout in {where} does not match its manifest", f"delete {where}")
        return Holdout(label, rows, manifest["digest"], source_digest, where)
    _, rows = stratified_split(interactions, 1.0 - share, seed)
    where.mkdir(parents=True, exist_ok=True)
    rows.to_parquet(where / ROWS, index=False)
    digest = frame_digest(rows)
    manifest = {
        "label": label,
        "seed": seed,
        "share": share,
        "rows": len(rows),
        "users": int(rows["user_id"].nunique()),
        "digest": digest,
        "source_digest": source_digest,
        "created": datetime.now(timezone.utc).isoformat(),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return Holdout(label, rows, digest, source_digest, where)
