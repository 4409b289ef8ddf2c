# The two commands that matter: `make demo` and `make test`. Both set up .venv when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
AIRFLOW_STAMP := $(VENV)/.airflow-stamp
PYTEST_ARGS ?=

.PHONY: venv demo test test-unit services-up services-down mlflow-ui airflow clean

$(STAMP): pyproject.toml serving/dashboard/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	scripts/build_dashboard.sh
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Airflow is large (about 3 GB), so only the DAG tests and `make airflow` install it.
$(AIRFLOW_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[airflow]'
	touch $(AIRFLOW_STAMP)

demo: $(STAMP)
	$(BIN)/hz45 demo

# Integration tests use the real local servers; `services-up` is a no-op when they already run.
test: $(STAMP) $(AIRFLOW_STAMP) services-up
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: $(STAMP) $(AIRFLOW_STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

services-up: $(STAMP)
	$(BIN)/hz45 services up

services-down:
	@if [ -x $(BIN)/hz45 ]; then $(BIN)/hz45 services down; fi

# The MLflow UI and REST API on the embedded store, one worker; the variables let a test serve
# its own store on a free port.
MLFLOW_PORT ?= 5000
MLFLOW_STORE ?= sqlite:///mlruns/mlflow.db
MLFLOW_ARTIFACTS ?= mlruns/artifacts
mlflow-ui: $(STAMP)
	mkdir -p $(MLFLOW_ARTIFACTS)
	$(BIN)/mlflow server --backend-store-uri $(MLFLOW_STORE) \
	  --artifacts-destination $(MLFLOW_ARTIFACTS) --host 127.0.0.1 --port $(MLFLOW_PORT) --workers 1

# Airflow standalone with dags/ and this venv; UI on 127.0.0.1:AIRFLOW_PORT, home and metadata
# DB under run/airflow (see scripts/airflow.sh).
AIRFLOW_PORT ?= 8080
airflow: $(AIRFLOW_STAMP)
	AIRFLOW_PORT=$(AIRFLOW_PORT) scripts/airflow.sh

clean:
	rm -rf run data/cache .pytest_cache
