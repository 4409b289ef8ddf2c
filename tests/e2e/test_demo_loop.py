"""The demo's loop, unattended, at small sizes, against the real local servers.

Everything the demo writes goes to this test's own folder, database, MLflow store, topics and
serving port, so it neither reads nor disturbs another run of the product on this machine.
"""

import uuid

import pytest
import sqlalchemy as sa
from mlflow import MlflowClient

from hz45.demo import DemoPlan, run_demo
from hz45.settings import load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]


@pytest.fixture
def isolated_env(tmp_path):
    tag = uuid.uuid4().hex[:8]
    return {
        "HZ45_SQL__URL": f"sqlite:///{tmp_path}/hz45.db",
        "HZ45_MLFLOW__TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
        "HZ45_MLFLOW__ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "HZ45_DATA__FEATURES_DIR": str(tmp_path / "features"),
        "HZ45_MONGO__DATABASE": f"hz45_e2e_{tag}",
        "HZ45_KAFKA__TOPICS__RAW_EVENTS": f"e2e-{tag}.events.raw",
        "HZ45_KAFKA__TOPICS__DEAD_LETTER": f"e2e-{tag}.events.dead-letter",
        "HZ45_KAFKA__TOPICS__USER_FEATURES": f"e2e-{tag}.features.user",
        "HZ45_KAFKA__TOPICS__RECOMMENDATION_LOG": f"e2e-{tag}.recommendations.log",
        "HZ45_STREAMING__CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "HZ45_PROMOTION__HOLDOUT__DIR": str(tmp_path / "holdout"),
        "HZ45_SERVING__PORT": "8765",
        "HZ45_DEMO__MLFLOW_PORT": "5765",
    }


def test_the_demo_loop_runs_every_stage(isolated_env):
    plan = DemoPlan.small()
    plan.env = isolated_env
    outcome = run_demo(plan)
    settings = load_settings(environ=isolated_env)

    # data and features
    engine = sa.create_engine(isolated_env["HZ45_SQL__URL"])
    with engine.connect() as db:
        assert db.execute(sa.text("select count(*) from interactions")).scalar() > 50_000
    assert any(settings.path(settings.data.features_dir).rglob("*.parquet"))

    # sweeps tracked, models registered, a champion promoted
    client = MlflowClient(isolated_env["HZ45_MLFLOW__TRACKING_URI"])
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs and all(r.info.status != "RUNNING" for r in runs)
    champion = client.get_model_version_by_alias(outcome["model"]["name"], "champion")
    assert str(outcome["model"]["version"]) == str(champion.version)

    # served over HTTP, and the list reacts to the listener's burst of plays and skips
    before, after = outcome["before"], outcome["after"]
    assert len(before["items"]) == 10 and len(after["items"]) == 10
    assert [i["item_id"] for i in after["items"]] != [i["item_id"] for i in before["items"]]
    assert after["online_features"]
    assert outcome["reacted_in_s"] < 60
