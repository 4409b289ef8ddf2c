"""Callbacks Airflow runs outside a task (in the triggerer); they must be importable there, so
they live in the installed `dags` package rather than in a DAG file."""

from __future__ import annotations

import logging

log = logging.getLogger("hz45.dags")


async def deadline_missed(context: dict, minutes: int) -> None:
    """A run is still going past its deadline: log which run, and how long it was given."""
    run = context.get("dag_run") or {}
    deadline = (context.get("deadline") or {}).get("deadline_time")
    log.error("%s run %s has not finished within %d minutes of being queued (deadline %s)",
              run.get("dag_id"), run.get("dag_run_id"), minutes, deadline)
