#!/usr/bin/env bash
# `make airflow`: Airflow standalone (scheduler, DAG processor, triggerer, API server and UI) with
# the project's DAGs and virtualenv. Its home, SQLite metadata DB and logs live in AIRFLOW_HOME
# (default run/airflow, git-ignored); the UI answers on http://127.0.0.1:AIRFLOW_PORT (default
# 8080). The admin password is printed at start and kept in AIRFLOW_HOME.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
port="${AIRFLOW_PORT:-8080}"

export AIRFLOW_HOME="${AIRFLOW_HOME:-$root/run/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$root/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$port"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$port"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$port/execution/"
# The Spark jobs' connection (airflow.spark_conn_id): local mode unless it is set already, e.g.
# to a cluster's master: AIRFLOW_CONN_HZ45_SPARK='{"conn_type": "spark", "host": "spark://HOST", "port": 7077}'.
export AIRFLOW_CONN_HZ45_SPARK="${AIRFLOW_CONN_HZ45_SPARK:-{\"conn_type\": \"spark\", \"host\": \"local[*]\"\}}"
# spark-submit, and the Python the Spark jobs run, come from PATH: this virtualenv's.
export PATH="$root/.venv/bin:$PATH"

mkdir -p "$AIRFLOW_HOME"
cd "$root"
exec airflow standalone
