"""The HTTP API (FastAPI; OpenAPI at /docs) over one replica's RecommendationService.

Every error a client can cause is a 4xx naming what was wrong: 422 for a bad parameter or body
(with the field), 404 for an unknown track; 503 when no model is promoted yet or Kafka is away.
"""

from typing import Annotated, Any, Awaitable, Callable

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hz45.errors import ServiceUnavailable
from serving.config import ServingConfig
from serving.dashboard import dashboard_router
from serving.model import NoSimilarTracks, UnknownTrack
from serving.registry import NoChampion
from serving.service import RecommendationService
from streaming.schema import Event, InvalidEvent, validate_event

INT64_MAX = 2**63 - 1
MAX_LIST = 1000

Id = Annotated[int, Field(ge=0, le=INT64_MAX)]


def request_model(config: ServingConfig) -> type[BaseModel]:
    """The POST /recommendations body; its bounds come from the configuration."""

    class RecommendationRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")

        user_id: Id
        n: int = Field(default=config.default_n, ge=1, le=config.max_n, description="how many tracks")
        context: list[Id] = Field(default_factory=list, max_length=MAX_LIST, description="recent tracks, newest last")
        exclude: list[Id] = Field(default_factory=list, max_length=MAX_LIST, description="track ids never to return")

    return RecommendationRequest


class RankedTrack(BaseModel):
    item_id: int
    score: float
    reason: str


class ModelRef(BaseModel):
    name: str
    version: str


class RecommendationsResponse(BaseModel):
    request_id: str = Field(description="id of this list in the recommendation log")
    user_id: int
    items: list[RankedTrack]
    cold_start: bool = Field(description="true when the listener was unknown to the model")
    online_features: bool = Field(description="true when the listener's streamed plays were part of the context")
    cached: bool
    model: ModelRef


class SimilarResponse(BaseModel):
    track_id: int
    items: list[RankedTrack]
    model: ModelRef


class ModelInfo(BaseModel):
    name: str
    version: str
    alias: str
    run_id: str | None
    metrics: dict[str, float]
    loaded_at: str


class EventAccepted(BaseModel):
    accepted: bool
    topic: str
    partition: int
    offset: int


class ErrorBody(BaseModel):
    error: str


def _field(loc: tuple) -> str:
    # FastAPI prefixes the location with where it came from (query, path, body).
    parts = [str(p) for p in loc if p not in ("query", "path", "body")]
    return ".".join(parts) or "body"


def _validation_response(errors: list[dict[str, Any]]) -> JSONResponse:
    first = errors[0]
    field = _field(tuple(first.get("loc", ())))
    detail = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "")} for e in errors]
    return JSONResponse(status_code=422, content={"error": f"{field}: {first.get('msg', 'invalid')}", "detail": detail})


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message})


ERRORS = {
    404: {"model": ErrorBody, "description": "unknown track"},
    422: {"model": ErrorBody, "description": "a parameter or the body is invalid; `error` names the field"},
    503: {"model": ErrorBody, "description": "no model promoted yet (promote one with `hz45 promote`)"},
}


def build_api(
    service: RecommendationService,
    config: ServingConfig,
    sink_status: Callable[[], Awaitable[dict[str, Any] | None]] | None = None,
) -> FastAPI:
    api = FastAPI(
        title="4.5HZ recommendations",
        description="Personalised tracks from the champion hybrid model, reacting to listeners' events.",
        version="1",
    )

    N = Annotated[int, Query(ge=1, le=config.max_n, description=f"how many tracks (1..{config.max_n})")]
    RecommendationRequest = request_model(config)

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(list(exc.errors()))

    @api.exception_handler(NoChampion)
    async def no_champion(_: Request, exc: NoChampion) -> JSONResponse:
        return _error(503, str(exc))

    @api.exception_handler(ServiceUnavailable)
    async def unavailable(_: Request, exc: ServiceUnavailable) -> JSONResponse:
        return _error(503, exc.line())

    @api.get("/recommendations/{user_id}", response_model=RecommendationsResponse, responses=ERRORS)
    async def recommendations(user_id: Annotated[int, Path(ge=0, le=INT64_MAX)], n: N = config.default_n) -> Any:
        return service.recommend(user_id, n, [], [])

    @api.post("/recommendations", response_model=RecommendationsResponse, responses=ERRORS)
    async def recommendations_for(request: RecommendationRequest) -> Any:  # type: ignore[valid-type]
        return service.recommend(request.user_id, request.n, request.context, request.exclude)

    @api.get("/tracks/{track_id}/similar", response_model=SimilarResponse, responses=ERRORS)
    async def similar(track_id: Annotated[int, Path(ge=0, le=INT64_MAX)], n: N = config.default_n) -> Any:
        try:
            return service.similar(track_id, n)
        except UnknownTrack:
            return _error(404, f"track {track_id} is not in the served model's catalogue")
        except NoSimilarTracks as exc:
            return _error(501, str(exc))

    # The raw body goes to the streaming schema's own validator (strict JSON, unique keys), so
    # the API accepts exactly what the producer and the streaming job accept.
    event_body = {"required": True, "content": {"application/json": {"schema": Event.model_json_schema()}}}

    @api.post(
        "/events",
        status_code=202,
        response_model=EventAccepted,
        responses=ERRORS,
        openapi_extra={"requestBody": event_body},
    )
    async def events(request: Request) -> Any:
        try:
            event = validate_event(await request.body())
        except InvalidEvent as exc:
            return _validation_response([{"loc": (exc.field,), "msg": exc.reason}])
        return await service.publish_event(event.listener_id, event.to_json())

    @api.get("/model", response_model=ModelInfo, responses={503: ERRORS[503]})
    async def model() -> Any:
        return service.model_info()

    @api.get("/healthz")
    async def healthz() -> dict[str, Any]:
        health = service.health()
        if sink_status is not None:
            health["log_sink"] = await sink_status()
        return health

    api.include_router(dashboard_router(service.model_info))
    return api
