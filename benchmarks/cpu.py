"""CPU time of the machine's processes by kind: how the benchmarks say where a run's CPU went
(the machine is shared, so every process is read, not only the benchmark's own)."""

from __future__ import annotations

from collections.abc import Callable

import psutil

CpuTimes = dict[int, tuple[str, float]]


def cpu_times(kind: Callable[[str], str | None]) -> CpuTimes:
    """User + system CPU seconds of every process, by pid, with the kind `kind` gives its command
    line (its name when it has none); processes of kind None are left out."""
    out: CpuTimes = {}
    for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        times = proc.info["cpu_times"]
        name = kind(" ".join(proc.info["cmdline"] or []) or proc.info["name"] or "")
        if times is not None and name is not None:
            out[proc.pid] = (name, times.user + times.system)
    return out


def cpu_spent(before: CpuTimes, after: CpuTimes) -> dict[str, float]:
    """CPU seconds each kind spent from `before` to `after`, most first; a process started in
    between counts from zero, one that ended in between is not counted."""
    spent: dict[str, float] = {}
    for pid, (name, seconds) in after.items():
        spent[name] = spent.get(name, 0.0) + seconds - before.get(pid, (name, 0.0))[1]
    return dict(sorted(spent.items(), key=lambda kv: -kv[1]))
