"""Keep local Spark and Ray on the loopback interface.

Both pick the machine's outward-facing address by default, even in local mode; a local run of
this product talks to nothing but 127.0.0.1. When `ray.address` or `spark.master` names a
cluster, the machine's own address is left to them, since the cluster must reach this process.
"""

from __future__ import annotations

import os

from hz45.settings import Settings


def keep_local_runs_on_loopback(settings: Settings) -> None:
    """Set the environment both read at start; call before Ray or Spark is imported."""
    if settings.ray.address is None:
        # Ray reads this once, at import: off, a local node uses 127.0.0.1 as its address.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if settings.spark.master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
