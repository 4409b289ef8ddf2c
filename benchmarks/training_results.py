"""What every training benchmark writes beside its figures: command, date, machine, load."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import psutil

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(script: str, figures: dict, label: str | None = None) -> Path:
    """benchmarks/results/<label or script>.json with flat figures plus command, date, machine."""
    out = RESULTS / f"{label or script}.json"
    record = {
        **figures,
        "load_average_after": round(os.getloadavg()[0], 2),
        "command": f"python benchmarks/{script}.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()} {psutil.cpu_count()} cores, "
        f"{round(psutil.virtual_memory().total / 2**30)} GiB, shared with other work, Python {platform.python_version()}",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return out
