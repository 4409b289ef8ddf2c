"""Airflow for the tests, in a child process.

Importing airflow configures logging for the whole process and reads its configuration once,
so the tests never import it: they call `describe` and `run` here, which start
`python airflow_harness.py ...` with an Airflow home of their own and read its JSON answer.

    describe                       the DAG folder: import errors and, per DAG, its schedule,
                                   params, deadline alerts and tasks (type, defaults, upstream
                                   tasks, Spark application and arguments)
    run DAG_ID LOGICAL_DATE [--mark-success REGEX] [--on-retry-link TASK LINK TARGET]
                                   one `dag.test()` run: its state and each task's state, tries
                                   and returned value. LOGICAL_DATE "none" runs without one (and
                                   without a data interval), as a run triggered by hand does.
                                   --on-retry-link creates the symlink LINK -> TARGET when TASK
                                   goes up for retry (a source that comes back).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANSWER = "HARNESS-ANSWER "


def airflow_env(home: Path, spark_master: str = "local[2]") -> dict[str, str]:
    """Variables that give Airflow a home, metadata DB and Spark connection under `home`."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW_CONN_HZ45_SPARK": json.dumps({"conn_type": "spark", "host": spark_master}),
        # spark-submit and the Python it starts: this virtualenv's.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def migrate(env: dict[str, str], timeout: float = 600) -> None:
    """Create the metadata DB of the home in `env`."""
    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], env={**os.environ, **env},
                   check=True, capture_output=True, timeout=timeout)


def call(env: dict[str, str], *args: str, timeout: float = 1800) -> tuple[dict, str]:
    """Run the harness with `args`; its JSON answer and everything it printed."""
    done = subprocess.run([sys.executable, __file__, *args], env={**os.environ, **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    answers = [line[len(ANSWER):] for line in done.stdout.splitlines() if line.startswith(ANSWER)]
    if done.returncode != 0 or not answers:
        raise AssertionError(f"harness {' '.join(args)} exited with {done.returncode}:\n{output[-6000:]}")
    return json.loads(answers[-1]), output


# -- the child process ------------------------------------------------------------------------


def _seconds(delta) -> float | None:
    return None if delta is None else delta.total_seconds()


def _task(task) -> dict:
    out = {
        "type": type(task).__name__,
        "upstream": sorted(task.upstream_task_ids),
        "retries": task.retries,
        "retry_delay_s": _seconds(task.retry_delay),
        "execution_timeout_s": _seconds(task.execution_timeout),
        "trigger_rule": str(task.trigger_rule.value if hasattr(task.trigger_rule, "value") else task.trigger_rule),
    }
    for name in ("conn_id", "_conn_id", "application", "application_args"):
        if hasattr(task, name):
            out[name.lstrip("_")] = getattr(task, name)
    return out


def _describe() -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    dags = {}
    for dag_id, dag in bag.dags.items():
        timetable = dag.timetable
        dags[dag_id] = {
            "timetable": type(timetable).__name__,
            "schedule": getattr(timetable, "expression", None),
            "timezone": str(getattr(timetable, "timezone", "")),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "tags": sorted(dag.tags),
            "doc_md": dag.doc_md,
            "params": {name: {"default": param.value, "schema": param.schema} for name, param in dag.params.items()},
            "deadlines": [
                {"reference": type(alert.reference).__name__, "interval_s": _seconds(alert.interval),
                 "callback": alert.callback.path, "kwargs": alert.callback.kwargs}
                for alert in (dag.deadline or [])
            ],
            "tasks": {task.task_id: _task(task) for task in dag.tasks},
        }
    return {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": dags}


def _link_on_retry(dag, task_id: str, link: str, target: str) -> None:
    def restore(context) -> None:
        Path(link).symlink_to(target)

    dag.get_task(task_id).on_retry_callback = [restore]


def _run(dag_id: str, logical_date: str, mark_success: str | None, on_retry_link: list[str] | None) -> dict:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    dag = bag.dags[dag_id]
    # dag.test() serializes the DAG itself, leaving its deadline alerts as dicts where the
    # scheduler keeps their database ids, and then fails to read them when the run succeeds
    # (Airflow 3.3). The alerts are checked by `describe`; a test run goes without them.
    dag.deadline = None
    if on_retry_link:
        _link_on_retry(dag, *on_retry_link)
    # "none": a run without a logical date or data interval, as one triggered by hand.
    logical = None if logical_date == "none" else datetime.fromisoformat(logical_date)
    run = dag.test(logical_date=logical, mark_success_pattern=mark_success)
    with create_session() as session:
        # Task return values are stored as JSON, which the column already decodes.
        values = {x.task_id: x.value
                  for x in session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=dag_id, key="return_value"))}
        tasks = {ti.task_id: {"state": getattr(ti.state, "value", ti.state), "tries": ti.try_number,
                              "seconds": ti.duration, "value": values.get(ti.task_id)}
                 for ti in run.get_task_instances(session=session)}
    return {"state": getattr(run.state, "value", run.state), "run_id": run.run_id, "tasks": tasks}


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("describe")
    run = commands.add_parser("run")
    run.add_argument("dag_id")
    run.add_argument("logical_date")
    run.add_argument("--mark-success")
    run.add_argument("--on-retry-link", nargs=3, metavar=("TASK", "LINK", "TARGET"))
    args = parser.parse_args()
    answer = _describe() if args.command == "describe" else _run(args.dag_id, args.logical_date,
                                                                  args.mark_success, args.on_retry_link)
    print(ANSWER + json.dumps(answer, default=str), flush=True)


if __name__ == "__main__":
    main()
