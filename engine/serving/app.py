"""The HTTP API of one finished run: `create_app(run_id)` loads it once and answers with FastAPI.

Refusals are 4xx with a one-line `detail` (unknown ids 404, inputs the model cannot serve 422); anything
unexpected is a 500 with a one-line message, never a traceback. With an API key (argument or `COLDSTART_API_KEY`)
every request but `GET /health` must carry it in `X-API-Key`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import time
from dataclasses import asdict
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.analysis.explore import ExploreError, RankedItems
from engine.serving.metrics import RequestMetrics
from engine.serving.schemas import (Audience, AudienceRequest, AudienceUser, FeedbackRequest, FeedbackStored, Health,
                                    NewItem, NewItemRequest, NewUserRecommendationRequest, Problem, RecommendedItem,
                                    Recommendations, SimilarItems, UserRecommendationRequest, MAX_K)
from engine.serving.service import Recommendation, ServedRun, ServingError

log = logging.getLogger(__name__)
API_KEY_HEADER = "X-API-Key"
OPEN_PATHS = frozenset({"/health"})
REFUSALS = {404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}}


class MetricsMiddleware:
    """Times every request and counts it under its route template (`/items/{item_id}/similar`), so ids in paths
    do not make one histogram per item."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            route = scope.get("route")
            endpoint = f"{scope['method']} {route.path if route is not None else 'unmatched'}"
            self.metrics.record(endpoint, status, time.perf_counter() - start)


def _items(ranked: RankedItems) -> list[RecommendedItem]:
    return [RecommendedItem(rank=rank, item_id=item, score=float(score), reason=reason.text if reason else None)
            for rank, (item, score, reason) in enumerate(zip(ranked.ids, ranked.scores, ranked.reasons), start=1)]


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def create_app(run_id: int, api_key: str | None = None) -> FastAPI:
    """The API serving run `run_id`, loaded now (an `ExploreError` when the run has no loadable model).

    `api_key` defaults to the `COLDSTART_API_KEY` environment variable; empty or unset means no key is asked.
    """
    served = ServedRun.load(run_id)
    key = api_key if api_key is not None else os.environ.get("COLDSTART_API_KEY") or None
    metrics = RequestMetrics()
    app = FastAPI(title=f"Cold-Start Lab: run {run_id} ({served.label})",
                  description="Recommendations, new users and items, feedback and metrics of one finished run.")

    @app.middleware("http")
    async def require_api_key(request: Request, call_next):
        if key is not None and request.url.path not in OPEN_PATHS:
            sent = request.headers.get(API_KEY_HEADER, "")
            if not secrets.compare_digest(sent.encode(), key.encode()):
                return JSONResponse({"detail": f"missing or wrong {API_KEY_HEADER} header; send the key the "
                                               "server was started with (COLDSTART_API_KEY)"}, status_code=401)
        return await call_next(request)

    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.exception_handler(ServingError)
    async def refused(_: Request, error: ServingError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    @app.exception_handler(ExploreError)
    async def bad_input(_: Request, error: ExploreError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(error)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(error).__name__}: {_one_line(error)}"[:300]},
                            status_code=500)

    def recommendations(answer: Recommendation) -> Recommendations:
        return Recommendations(run_id=run_id, model=served.fitted.name, path=answer.path,
                               reason_kind=answer.ranked.kind, items=_items(answer.ranked))

    @app.get("/health", response_model=Health)
    def health() -> Health:
        """Which run, model and dataset are served (never needs the API key)."""
        return Health(run_id=run_id, model=served.fitted.name, model_label=served.label,
                      experiment_id=served.context.experiment_id, protocol=served.protocol,
                      dataset=served.dataset.name, dataset_fingerprint=served.dataset.fingerprint,
                      capabilities=asdict(served.capabilities), catalogue_size=len(served.catalogue))

    @app.post("/recommendations/user", response_model=Recommendations, responses=REFUSALS)
    def recommend_for_user(body: UserRecommendationRequest) -> Recommendations:
        """Top-k for a user the model was trained on; 404 for an unknown user id."""
        return recommendations(served.recommend_for_user(body.user_id, body.k, body.exclude_seen, body.filter))

    @app.post("/recommendations/new-user", response_model=Recommendations, responses=REFUSALS)
    def recommend_for_new_user(body: NewUserRecommendationRequest) -> Recommendations:
        """Top-k for a new user from attributes and liked items; 422 with the model's reason when it cannot."""
        return recommendations(served.recommend_for_new_user(body.attributes, body.liked, body.k, body.filter))

    @app.post("/items", response_model=NewItem, status_code=201, responses=REFUSALS)
    def add_item(body: NewItemRequest) -> NewItem:
        """Add an item, recommendable at once; 422 for a model that cannot score new items."""
        served.add_item(body.item_id, body.attributes)
        return NewItem(item_id=body.item_id, catalogue_size=len(served.catalogue))

    @app.get("/items/{item_id}/similar", response_model=SimilarItems, responses=REFUSALS)
    def similar_items(item_id: str, k: Annotated[int, Query(ge=1, le=MAX_K)] = 10) -> SimilarItems:
        """What the model recommends to someone who liked only this item."""
        return SimilarItems(run_id=run_id, item_id=item_id, items=_items(served.similar_items(item_id, k)))

    @app.post("/items/audience", response_model=Audience, responses=REFUSALS)
    def audience(body: AudienceRequest) -> Audience:
        """The trained users most likely to want a new item with these attributes."""
        table = served.audience(body.attributes, body.n)
        return Audience(run_id=run_id, users=[AudienceUser(user_id=str(u), score=float(s))
                                              for u, s in zip(table["user_id"], table["score"])])

    @app.post("/feedback", response_model=FeedbackStored, status_code=201, responses=REFUSALS)
    def feedback(body: FeedbackRequest) -> FeedbackStored:
        """Record an event or rating; it is on disk (fsync'd) before this 201 is sent."""
        received = dt.datetime.now(dt.timezone.utc)
        record = body.model_dump(mode="json") | {
            "timestamp": (body.timestamp or received).isoformat(), "received_at": received.isoformat(),
            "run_id": run_id}
        served.record_feedback(record)
        return FeedbackStored(record=record)

    @app.get("/metrics")
    def request_metrics() -> dict:
        """Request counts and latency histograms per endpoint, with the model and dataset served."""
        return {"run_id": run_id, "model": served.fitted.name, "dataset": served.dataset.name,
                "dataset_fingerprint": served.dataset.fingerprint, "endpoints": metrics.snapshot()}

    return app
