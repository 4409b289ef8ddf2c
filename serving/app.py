"""The Ray Serve application: the API deployment (FastAPI ingress) and the recommendation log
sink, with their options from the `serving:` configuration.

`build_app` is an application builder, so the same app runs locally (`hz45 serve`) and on an
existing cluster (`serve deploy configs/serve.yaml`, import path `serving.app:build_app`).

The log sink is a deployment of the app rather than a separate process: it is deployed, health-
checked and restarted by Serve together with the API, so no extra process has to be run beside a
cluster deployment; it needs no CPU reservation (it waits on Kafka and MongoDB), and more sink
replicas share the topic's partitions through their consumer group.
"""

from __future__ import annotations

from typing import Any

import yaml
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from hz45.settings import Settings, get_settings
from serving.api import build_api
from serving.config import ServingConfig, serving_config
from serving.wiring import create_log_sink, create_service

API_DEPLOYMENT = "RecommendationAPI"
SINK_DEPLOYMENT = "RecommendationLogSink"


@serve.deployment(name=SINK_DEPLOYMENT)
class RecommendationLogSink:
    def __init__(self) -> None:
        self.sink = create_log_sink(get_settings()).start()

    def status(self) -> dict[str, Any]:
        return self.sink.status()

    def check_health(self) -> None:
        # Serve restarts a replica whose check fails; a dead sink thread is such a failure.
        if not self.sink.status()["running"]:
            raise RuntimeError(f"recommendation log sink stopped: {self.sink.last_error}")

    def __del__(self) -> None:
        self.sink.stop()


@serve.deployment(name=API_DEPLOYMENT)
@serve.ingress()
class RecommendationAPI:
    def __init__(self, log_sink: DeploymentHandle | None = None) -> None:
        settings = get_settings()
        self.config = serving_config(settings)
        self.service = create_service(settings, self.config)
        self.log_sink = log_sink

    def __serve_build_asgi_app__(self):
        return build_api(self.service, self.config, self._sink_status)

    async def _sink_status(self) -> dict[str, Any] | None:
        return await self.log_sink.status.remote() if self.log_sink is not None else None

    def __del__(self) -> None:
        self.service.close()


def deployment_options(config: ServingConfig) -> dict[str, Any]:
    """The API deployment's Serve options; benchmarks give a no-op endpoint the same ones."""
    d = config.deployment
    options: dict[str, Any] = {
        "max_ongoing_requests": d.max_ongoing_requests,
        "ray_actor_options": {"num_cpus": d.num_cpus},
        "logging_config": {"enable_access_log": d.access_log},
    }
    if d.autoscaling.enabled:
        a = d.autoscaling
        options["autoscaling_config"] = {
            "min_replicas": a.min_replicas,
            "max_replicas": a.max_replicas,
            "target_ongoing_requests": a.target_ongoing_requests,
            "upscale_delay_s": a.upscale_delay_s,
            "downscale_delay_s": a.downscale_delay_s,
        }
    else:
        options["num_replicas"] = d.num_replicas
    return options


def sink_options(config: ServingConfig) -> dict[str, Any]:
    return {"num_replicas": 1, "ray_actor_options": {"num_cpus": config.log_sink.num_cpus}}


def build_app(args: dict[str, Any] | None = None) -> Application:
    """The application builder Serve calls (`args` from the Serve config are not used: every
    setting comes from the hz45 configuration of the node)."""
    config = serving_config(get_settings())
    sink = RecommendationLogSink.options(**sink_options(config)).bind()
    return RecommendationAPI.options(**deployment_options(config)).bind(sink)


def serve_config(settings: Settings) -> dict[str, Any]:
    """The Serve config file (the shape `serve build` writes) for `serve deploy`."""
    config = serving_config(settings)
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": config.host, "port": config.port},
        "applications": [
            {
                "name": config.app_name,
                "route_prefix": "/",
                "import_path": "serving.app:build_app",
                "runtime_env": {},
                "deployments": [
                    {"name": API_DEPLOYMENT, **deployment_options(config)},
                    {"name": SINK_DEPLOYMENT, **sink_options(config)},
                ],
            }
        ],
    }


def serve_yaml(settings: Settings) -> str:
    header = (
        "# Ray Serve config for `serve deploy` onto an existing Ray cluster; written by `hz45 serve config`\n"
        "# from the `serving:` section of configs/default.yaml (edit that, then rewrite this file).\n"
    )
    return header + yaml.safe_dump(serve_config(settings), sort_keys=False)


# Ray starts its workers at niceness 15, so that they yield to the driver. On a machine shared
# with the broker and the databases that makes every replica and the HTTP proxy yield to those
# as well, which shows in the tail latency; a local Ray for serving keeps its workers at 0. (A
# cluster for `serve deploy` gets the same from RAY_worker_niceness=0 when it starts.)
LOCAL_RAY = {"_system_config": {"worker_niceness": 0}}


def start_local(settings: Settings, blocking: bool = False) -> str:
    """Run the app on the configured Ray (a local one when `ray.address` is unset); returns the
    base URL."""
    import ray

    config = serving_config(settings)
    if not ray.is_initialized():
        if settings.ray.address:
            ray.init(address=settings.ray.address)
        else:
            ray.init(num_cpus=settings.ray.num_cpus, include_dashboard=False, **LOCAL_RAY)
    serve.start(http_options={"host": config.host, "port": config.port})
    url = f"http://{config.host}:{config.port}"
    serve.run(build_app(), name=config.app_name, route_prefix="/", blocking=blocking)
    return url
