"""Request and response bodies of the serving API; FastAPI validates them and turns them into the OpenAPI schema.

Requests forbid unknown fields, so a misspelt field is a 422 naming it rather than a default silently used.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AttributeValue = str | int | float
DescribingValue = AttributeValue | dict[str, float]
"""An attribute of a new user or item: a value, `a|b` for several, or {value: weight} (how often a tag was given)."""
MAX_K = 1000


class Request(BaseModel):
    """Base of request bodies: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class Health(BaseModel):
    """What is being served."""

    status: Literal["ok"] = "ok"
    run_id: int
    model: str = Field(description="registry name of the model, e.g. itemknn")
    model_label: str
    experiment_id: int
    protocol: str
    dataset: str
    dataset_id: int
    dataset_fingerprint: str = Field(description="sha256 of the dataset content the model was trained on")
    capabilities: dict[str, bool]
    catalogue_size: int
    feedback_events: int = Field(description="feedback events counted for this run: its dataset's served feedback "
                                             "and what swaps carried in")


class UserRecommendationRequest(Request):
    """Recommendations for a user the model was trained on."""

    user_id: str = Field(min_length=1)
    k: int = Field(10, ge=1, le=MAX_K, description="how many items to return")
    exclude_seen: bool = Field(True, description="leave out items the user already interacted with in training")
    filter: dict[str, AttributeValue] = Field(default_factory=dict,
                                              description="only items with these attribute values, "
                                                          "e.g. {\"category\": \"books\"}")
    reasons: bool = Field(True, description="a short reason per item; false leaves them out (null), which saves "
                                            "about a third of a request's work")


class NewUserRecommendationRequest(Request):
    """Recommendations for a user the model never saw: attributes and, optionally, a few liked item ids."""

    attributes: dict[str, DescribingValue] = Field(default_factory=dict, description="e.g. {\"region\": \"north\"}")
    liked: list[str] = Field(default_factory=list, max_length=200, description="training item ids the user liked")
    k: int = Field(10, ge=1, le=MAX_K)
    filter: dict[str, AttributeValue] = Field(default_factory=dict)
    reasons: bool = Field(True, description="a short reason per item; false leaves them out (null), which saves "
                                            "about a third of a request's work")


class RecommendedItem(BaseModel):
    """One recommended item with its score and a short post-hoc reason (none when the data holds no evidence)."""

    rank: int
    item_id: str
    score: float
    reason: str | None


class Recommendations(BaseModel):
    """A ranked list and how it was served."""

    run_id: int
    model: str
    path: Literal["known", "fold-in", "attributes", "popularity"] = Field(
        description="known: a trained user; fold-in: from liked items; attributes: from user attributes; "
                    "popularity: the list the model gives every user it cannot tell apart")
    reason_kind: str
    feedback_items: int = Field(0, description="items the user's served feedback named: left out as seen when "
                                               "exclude_seen, and folded in by a model that folds users in")
    items: list[RecommendedItem]


class SimilarItems(BaseModel):
    """Items the model recommends to someone who liked only `item_id`."""

    run_id: int
    item_id: str
    items: list[RecommendedItem]


class NewItemRequest(Request):
    """A new item and its attributes."""

    item_id: str = Field(min_length=1, max_length=200)
    attributes: dict[str, DescribingValue] = Field(default_factory=dict,
                                                 description="e.g. {\"category\": \"books\", \"tags\": {\"eco\": 3, \"kids\": 1}}")


class NewItem(BaseModel):
    """The added item, recommendable from now on."""

    item_id: str
    catalogue_size: int


class AudienceRequest(Request):
    """A new item described by its attributes."""

    attributes: dict[str, DescribingValue]
    n: int = Field(10, ge=1, le=MAX_K, description="how many users to return")


class AudienceUser(BaseModel):
    """A trained user and how strongly the model would recommend the item to them."""

    user_id: str
    score: float


class Audience(BaseModel):
    """The users most likely to want the new item, best first."""

    run_id: int
    users: list[AudienceUser]


class FeedbackRequest(Request):
    """One interaction observed while serving: an event (click, purchase...) or a rating, or both."""

    user_id: str = Field(min_length=1, max_length=200)
    item_id: str = Field(min_length=1, max_length=200)
    event: str | None = Field(None, min_length=1, max_length=100)
    rating: float | None = Field(None, allow_inf_nan=False)
    timestamp: dt.datetime | None = Field(None, description="when it happened (ISO 8601 or Unix seconds); "
                                                            "default: when received")

    @model_validator(mode="after")
    def _event_or_rating(self) -> "FeedbackRequest":
        if self.event is None and self.rating is None:
            raise ValueError("send an event (e.g. \"click\") or a rating (e.g. 4), or both")
        return self


class FeedbackStored(BaseModel):
    """The feedback as written to the journal (on disk before this answer was sent)."""

    stored: Literal[True] = True
    record: dict[str, Any]


class SwapRequest(Request):
    """The finished run to serve instead of the current one."""

    run_id: int = Field(ge=1, description="id of a finished run with a saved model")


class Swapped(BaseModel):
    """The run served now, and the one it replaced."""

    previous_run_id: int
    run_id: int
    model: str
    dataset: str
    items_carried: list[str] = Field(description="items added to the previous run, replayed into this one")
    items_present: list[str] = Field(description="items added to the previous run that this run's catalogue has")
    items_refused: dict[str, str] = Field(description="item id -> why it could not be carried (e.g. the model "
                                                      "cannot score new items, or its attributes do not fit)")
    feedback_events: int = Field(description="feedback events this run counts after the swap")
    feedback_carried: int = Field(description="feedback events of the previous run copied to this run's journal")
    feedback_note: str


class ForgetRequest(Request):
    """A user of the served dataset who asked to be forgotten."""

    user_id: str = Field(min_length=1, max_length=200)


class Forgotten(BaseModel):
    """What was erased (the user named by keyed hash only) and which runs were trained on them."""

    user_hash: str
    datasets: list[int]
    runs_marked: list[int]
    summary: str


class FieldProblem(BaseModel):
    """One field of a body or query that failed validation: where (`loc`), what is wrong (`msg`), its kind."""

    model_config = ConfigDict(extra="allow")
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """Every refusal: what was wrong and what to send instead (one line), or, for a body or query that does not
    validate, one entry per field."""

    detail: str | list[FieldProblem]
