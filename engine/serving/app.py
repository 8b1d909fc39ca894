"""The HTTP API of one finished run: `create_app(run_id)` loads it once and answers with FastAPI.

Refusals are 4xx with a one-line `detail` (unknown ids 404, a forgotten user 410, a body over the limit 413,
inputs the model cannot serve 422); anything unexpected is a 500 with a one-line message, never a traceback. With
an API key (argument or `COLDSTART_API_KEY`) every request but `GET /health` must carry it in `X-API-Key`.

The served run sits behind `ServingState`: `POST /admin/swap` loads another run completely, then replaces the
reference in one assignment. Each request reads the reference once when it starts, so requests in flight finish
on the run they started with and none is dropped or sees half of each.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import asdict
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from engine.analysis.explore import ExploreError, RankedItems
from engine.serving.metrics import RequestMetrics
from engine.serving.middleware import BodyLimit, ObservedRequests, RequireApiKey
from engine.serving.schemas import (MAX_K, Audience, AudienceRequest, AudienceUser, FeedbackRequest, FeedbackStored,
                                    ForgetRequest, Forgotten, Health, NewItem, NewItemRequest,
                                    NewUserRecommendationRequest, Problem, RecommendedItem, Recommendations,
                                    SimilarItems, SwapRequest, Swapped, UserRecommendationRequest)
from engine.serving.service import Recommendation, ServedRun, ServingError, TakenOver
from engine.settings import get_settings

log = logging.getLogger(__name__)
REFUSALS = {404: {"model": Problem}, 409: {"model": Problem}, 410: {"model": Problem}, 413: {"model": Problem},
            422: {"model": Problem}}


class ServingState:
    """The run being served. `swap` loads the next one fully before the reference changes (one assignment, atomic
    for readers), and swaps one at a time."""

    def __init__(self, served: ServedRun) -> None:
        self.served = served
        self._swapping = threading.Lock()

    def swap(self, run_id: int) -> tuple[ServedRun, TakenOver]:
        """Serve run `run_id` from now on; returns the run served before and what was carried over from it (added
        items, feedback). The old run keeps answering while the new one loads, and keeps answering requests that
        started on it; items and feedback those requests add after the hand-over go to the new run."""
        with self._swapping:
            loaded = ServedRun.load(run_id)
            taken = loaded.take_over(self.served)
            previous, self.served = self.served, loaded
        return previous, taken


def _items(ranked: RankedItems) -> list[RecommendedItem]:
    return [RecommendedItem(rank=rank, item_id=item, score=float(score), reason=reason.text if reason else None)
            for rank, (item, score, reason) in enumerate(zip(ranked.ids, ranked.scores, ranked.reasons), start=1)]


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _recommendations(served: ServedRun, answer: Recommendation) -> Recommendations:
    return Recommendations(run_id=served.fitted.run_id, model=served.fitted.name, path=answer.path,
                           reason_kind=answer.ranked.kind, feedback_items=answer.feedback_items,
                           items=_items(answer.ranked))


def create_app(run_id: int, api_key: str | None = None) -> FastAPI:
    """The API serving run `run_id`, loaded now (an `ExploreError` with the reason when it cannot be served).

    `api_key` defaults to the `COLDSTART_API_KEY` environment variable; empty or unset means no key is asked.
    """
    state = ServingState(ServedRun.load(run_id))
    key = api_key if api_key is not None else get_settings().api_key
    metrics = RequestMetrics()
    app = FastAPI(title=f"Cold-Start Lab: run {run_id} ({state.served.label})",
                  description="Recommendations, new users and items, feedback and metrics of one finished run.")
    app.state.serving = state
    app.add_middleware(RequireApiKey, key=key)
    app.add_middleware(BodyLimit)
    app.add_middleware(ObservedRequests, metrics=metrics)

    @app.exception_handler(ServingError)
    async def refused(_: Request, error: ServingError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    @app.exception_handler(ExploreError)
    async def bad_input(_: Request, error: ExploreError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(error)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        route = request.scope.get("route")
        log.exception("%s %s failed", request.method, route.path if route is not None else "(unmatched)")
        return JSONResponse({"detail": f"internal error: {type(error).__name__}: {_one_line(error)}"[:300]},
                            status_code=500)

    # Cheap CPU-bound endpoints are coroutines, run on the event loop: a hop to the thread pool and back cost more
    # CPU than a known user's scoring (the GIL lets one thread score at a time anyway). Feedback awaits the journal
    # writer's fdatasync on the loop too. Endpoints that may take long (adding an item, audiences, swaps) run on the
    # thread pool.
    @app.get("/health", response_model=Health)
    async def health() -> Health:
        """Which run, model and dataset are served (never needs the API key)."""
        served = state.served
        return Health(run_id=served.fitted.run_id, model=served.fitted.name, model_label=served.label,
                      experiment_id=served.context.experiment_id, protocol=served.protocol,
                      dataset=served.dataset.name, dataset_id=served.dataset.id,
                      dataset_fingerprint=served.dataset.fingerprint, capabilities=asdict(served.capabilities),
                      catalogue_size=len(served.catalogue), feedback_events=served.feedback_events)

    @app.post("/recommendations/user", response_model=Recommendations, responses=REFUSALS)
    async def recommend_for_user(body: UserRecommendationRequest, request: Request) -> Recommendations:
        """Top-k for a user the model was trained on; 404 for an unknown user id, 410 for a forgotten one."""
        request.state.user_id = body.user_id
        served = state.served
        return _recommendations(served, served.recommend_for_user(body.user_id, body.k, body.exclude_seen,
                                                                  body.filter, body.reasons))

    @app.post("/recommendations/new-user", response_model=Recommendations, responses=REFUSALS)
    async def recommend_for_new_user(body: NewUserRecommendationRequest) -> Recommendations:
        """Top-k for a new user from attributes and liked items; 422 with the model's reason when it cannot."""
        served = state.served
        return _recommendations(served, served.recommend_for_new_user(body.attributes, body.liked, body.k,
                                                                      body.filter, body.reasons))

    @app.post("/items", response_model=NewItem, status_code=201, responses=REFUSALS)
    def add_item(body: NewItemRequest) -> NewItem:
        """Add an item, recommendable at once; 422 for a model that cannot score new items."""
        served = state.served
        served.add_item(body.item_id, body.attributes)
        return NewItem(item_id=body.item_id, catalogue_size=len(served.catalogue))

    @app.get("/items/{item_id}/similar", response_model=SimilarItems, responses=REFUSALS)
    def similar_items(item_id: str, k: Annotated[int, Query(ge=1, le=MAX_K)] = 10) -> SimilarItems:
        """What the model recommends to someone who liked only this item."""
        served = state.served
        return SimilarItems(run_id=served.fitted.run_id, item_id=item_id, items=_items(served.similar_items(item_id,
                                                                                                           k)))

    @app.post("/items/audience", response_model=Audience, responses=REFUSALS)
    def audience(body: AudienceRequest) -> Audience:
        """The trained users most likely to want a new item with these attributes (forgotten users left out)."""
        served = state.served
        table = served.audience(body.attributes, body.n)
        return Audience(run_id=served.fitted.run_id, users=[AudienceUser(user_id=str(u), score=float(s))
                                                            for u, s in zip(table["user_id"], table["score"])])

    @app.post("/feedback", response_model=FeedbackStored, status_code=201, responses=REFUSALS)
    async def feedback(body: FeedbackRequest, request: Request) -> FeedbackStored:
        """Record an event or rating; it is on disk (fsync'd) before this 201 is sent."""
        request.state.user_id = body.user_id
        served = state.served
        received = dt.datetime.now(dt.timezone.utc)
        record = body.model_dump(mode="json") | {
            "timestamp": (body.timestamp or received).isoformat(), "received_at": received.isoformat(),
            "run_id": served.fitted.run_id}
        await served.record_feedback(record)  # concurrent events share one write and fdatasync
        return FeedbackStored(record=record)

    @app.get("/metrics")
    async def request_metrics() -> dict:
        """Request counts and latency histograms per endpoint, with the model and dataset served."""
        served = state.served
        return {"run_id": served.fitted.run_id, "model": served.fitted.name, "dataset": served.dataset.name,
                "dataset_fingerprint": served.dataset.fingerprint, "endpoints": metrics.snapshot()}

    @app.post("/admin/swap", response_model=Swapped, responses=REFUSALS)
    def swap(body: SwapRequest) -> Swapped:
        """Serve another finished run from now on, without dropping a request: it is loaded fully first (the old
        run answers meanwhile), the items added to the old run are replayed into it and its feedback carried over,
        then it is swapped in; 422 with the reason, the old run still served, when it cannot."""
        previous, taken = state.swap(body.run_id)
        served = state.served
        return Swapped(previous_run_id=previous.fitted.run_id, run_id=served.fitted.run_id, model=served.fitted.name,
                       dataset=served.dataset.name, **asdict(taken))

    @app.post("/admin/forget", response_model=Forgotten, responses=REFUSALS)
    def forget(body: ForgetRequest, request: Request) -> Forgotten:
        """Forget a user of the served dataset (and the versions made from it): refused from this moment on,
        erased from the data, feedback and split files; runs trained on them are marked."""
        from engine.data.errors import DataError
        from engine.privacy.forget import forget_user

        request.state.user_id = body.user_id
        try:
            report = forget_user(state.served.dataset.id, body.user_id)
        except DataError as error:
            raise ServingError(404, _one_line(error)) from None
        return Forgotten(user_hash=report.user_hash, datasets=report.datasets, runs_marked=report.runs_marked,
                         summary=report.describe())

    return app
