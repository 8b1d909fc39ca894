"""Look at recommendations themselves: a test user's top-K per fitted model, a made-up new user, a made-up new item.

Everything is scored the way the evaluation scores it: the experiment's stored split and dataset rebuild the same
`TrainData` the run was fitted on, fitted models load from their artifacts (tensors and JSON only), queries are
built with `engine.data.indexing`, and candidates are ranked in the evaluator's seeded order
(`engine.metrics.ranking.candidate_order`), so tied scores break as they did in the evaluation, not by id. A new user or item is a query row with index -1 whose features are encoded from
the chosen attribute values with the dataset's own encoding, and whose revealed history is the items picked.
"""

from __future__ import annotations

import datetime as dt
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from engine.analysis.comparison import cold_first, slice_sort_key
from engine.analysis.explain import Explainer, Reason, item_labels, reason_kind_for
from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.features import FeatureMatrix
from engine.core.model import Recommender
from engine.core.ranking import top_k
from engine.data.catalog import load_dataset
from engine.data.cell_values import multi_value_rows
from engine.data.dataset import Dataset
from engine.data.features import NewRowEncoder, numeric_levels, parse_dates
from engine.data.indexing import build_train_data, item_query, user_query
from engine.metrics.evaluation import reason_not_served
from engine.metrics.ranking import candidate_order
from engine.models.registry import UnknownModelError, get_model_class
from engine.protocols.split import EvalSlice, Split
from engine.runs.experiments import get_experiment, load_split
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.tables import RunRow

NEW_USER_ID = "<new user>"
NEW_ITEM_ID = "<new item>"


class ExploreError(ValueError):
    """A run or input that cannot be explored, with what to do instead."""


@dataclass
class ExploreContext:
    """One experiment, loaded once: its dataset, split, the training data models were fitted on, an explainer."""

    experiment_id: int
    dataset: Dataset
    split: Split
    data: TrainData
    explainer: Explainer
    row_encoders: dict[str, NewRowEncoder] = field(default_factory=dict, repr=False)
    """Per side, the encoder of made-up entities' attributes, built on first use (see `encode_new_entity`)."""

    def test_slice(self, name: str) -> EvalSlice:
        """The test slice called `name`."""
        for candidate in self.split.test:
            if candidate.name == name:
                return candidate
        raise ExploreError(f"the experiment has no test slice {name!r}; pick one of "
                           f"{', '.join(s.name for s in self.split.test)}")


@dataclass
class FittedRun:
    """A finished run's model, loaded from its artifact folder."""

    run_id: int
    name: str
    label: str
    family: str
    model: Recommender
    experiment_id: int | None = None
    """The experiment the run was fitted on: its split and dataset rebuild the model's training data."""


@dataclass
class RankedItems:
    """One model's top-k for one user: item ids best first, their scores, a reason each, the kind of reason."""

    ids: list[str]
    scores: np.ndarray
    reasons: list[Reason | None]
    kind: str


@dataclass
class ModelAnswer:
    """One model's answer to a question: a ranked table, or the reason it cannot answer."""

    run: FittedRun
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    not_applicable: str | None = None
    reason_kind: str | None = None
    reason_kinds: tuple[str, ...] = ()
    """Every kind of reason the table's rows give (a co-liked answer gives new items the attribute reason)."""


def load_context(experiment_id: int) -> ExploreContext:
    """The experiment's dataset, split and training data, rebuilt exactly as the runner builds them."""
    info = get_experiment(experiment_id)
    dataset = load_dataset(info.dataset_id)
    split = load_split(experiment_id)
    data = build_train_data(split.train, dataset)
    return ExploreContext(experiment_id, dataset, split, data, Explainer(data, item_labels(dataset.items)))


def load_fitted_run(run_id: int) -> FittedRun:
    """The fitted model of a finished run; a clear error when the run has no model artifact to load."""
    with session_scope() as session:
        row = session.get(RunRow, run_id)
        if row is None:
            raise ExploreError(f"run {run_id} does not exist; pick a run from the list")
        status, name, artifact, experiment_id = row.status, row.model, row.artifact_path, row.experiment_id
        forgotten_at = row.forgotten_data_at
    if forgotten_at is not None:
        # the split no longer holds the forgotten user, so this model's rows would no longer line up with its data
        raise ExploreError(f"run {run_id} ({name}) was trained on data a user asked to forget "
                           f"({forgotten_at:%Y-%m-%d %H:%M} UTC) and its model still encodes them; retrain it "
                           "(queue the model again on its experiment) and use the new run")
    if status != "done" or not artifact:
        raise ExploreError(f"run {run_id} ({name}) is {status} and has no fitted model; pick a finished run")
    folder = get_settings().home / artifact
    if not (folder / "model.json").is_file():
        raise ExploreError(f"run {run_id} ({name}) kept no model file in {folder}; re-run it to explore it "
                           "(runs from the command line keep only their results)")
    try:
        cls = get_model_class(name)
    except UnknownModelError as error:
        raise ExploreError(f"run {run_id}: {error}") from None
    try:
        model = cls.load(folder)
    except (RuntimeError, KeyError, ValueError, OSError, pickle.UnpicklingError) as error:
        # typically a model saved by an older version whose tensors or settings have changed since
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise ExploreError(f"run {run_id} ({name}): its saved model does not load with this version of "
                           f"{cls.label} ({reason}); re-run it to explore it") from None
    return FittedRun(run_id, name, cls.label, cls.family, model, experiment_id)


def serves(context: ExploreContext, model: str, slice_name: str) -> bool:
    """Whether registered model `model` can serve a test slice, read from its class: no fitted model is loaded."""
    try:
        cls = get_model_class(model)
    except UnknownModelError:
        return False
    return reason_not_served(cls, context.data, context.test_slice(slice_name)) is None


def slice_names(context: ExploreContext) -> list[str]:
    """The experiment's test slices in reading order (overall, warm, cold ones, few-shot by k)."""
    return sorted((s.name for s in context.split.test), key=slice_sort_key)


def opening_slice(context: ExploreContext, models: list[str]) -> str:
    """The slice to open on: the first cold-start slice one of `models` can serve, else any slice one serves, so
    the page never opens on answers that are all "not applicable"."""
    ordered = cold_first(slice_names(context))
    return next((name for name in ordered if any(serves(context, m, name) for m in models)), ordered[0])


def default_runs(context: ExploreContext, models: dict[int, str], limit: int = 4) -> list[int]:
    """Up to `limit` of the runs `models` (run id -> registry key, newest first) to open with: those that can answer
    on the opening slice first, and one run per model before a second run of any (four runs of one model, tuned and
    not, would otherwise hide every other model)."""
    opening = opening_slice(context, list(models.values()))
    first_of_model: dict[str, int] = {}
    for run_id, model in models.items():
        first_of_model.setdefault(model, run_id)
    return sorted(models, key=lambda run_id: (not serves(context, models[run_id], opening),
                                              first_of_model[models[run_id]] != run_id))[:limit]


def _rows_of(frame: pd.DataFrame | None, column: str, value: str) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame(columns=["user_id", "item_id"])
    return frame.loc[frame[column].astype(str) == value]


def slice_users(context: ExploreContext, slice_name: str) -> list[str]:
    """The users evaluated on a test slice, most held-out positives first (more hits to look at)."""
    truth = context.test_slice(slice_name).truth
    counts = truth["user_id"].astype(str).value_counts(sort=True)
    return counts.index.tolist()


PICKER_SUMMARY_CHARS = 70
"""Longest attribute summary beside an unnamed item's id in a picker: enough for a few tags or genres."""


def training_item_names(context: ExploreContext) -> dict[str, str]:
    """Training item id -> `name (id)`, for pickers of liked items (only training items can be folded in). An item
    without a title or name is shown by its id and the start of its attributes (`i7 · genres: Comedy, Drama`):
    'i7 (i7)' told a person nothing about which items to pick."""
    ids = [str(i) for i in context.data.item_ids]
    summaries = _attribute_summaries(context, ids)
    names = {}
    for item, summary in zip(ids, summaries):
        label = context.explainer.label(item)
        names[item] = f"{label} ({item})" if label != item else f"{item} · {summary}" if summary else item
    return names


def _attribute_summaries(context: ExploreContext, ids: list[str]) -> list[str]:
    """Per item of `ids`, its attribute values in one short line (`tags: a, b, c · year: 1984`), '' without any."""
    items = context.dataset.items
    kinds = context.dataset.item_kinds
    columns = [c for c in kinds if kinds[c] != "ignore" and items is not None and c in items.columns]
    if not columns:
        return [""] * len(ids)
    table = items.assign(item_id=items["item_id"].astype(str)).drop_duplicates("item_id").set_index("item_id")
    table = table.reindex(ids)[columns]
    line = pd.Series("", index=table.index)
    for column in columns:
        values = table[column].astype("string").str.strip().str.replace("|", ", ", regex=False)
        if kinds[column] == "numeric":
            numbers = pd.to_numeric(table[column], errors="coerce")
            values = numbers.map(lambda v: f"{v:g}", na_action="ignore").astype("string")
        part = (f"{column}: " + values).fillna("")
        joiner = pd.Series(" · ", index=line.index).where((line != "") & (part != ""), "")
        line = line + joiner + part
    long = line.str.len() > PICKER_SUMMARY_CHARS
    line[long] = line[long].str.slice(0, PICKER_SUMMARY_CHARS - 1).str.rstrip(" ,·") + "…"
    return line.tolist()


def with_item_attributes(context: ExploreContext, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (with an `item_id` column) joined with the item attribute table, when the dataset has one."""
    items = context.dataset.items
    if items is None:
        return frame
    return frame.merge(_described(items, "item_id", context.dataset.item_kinds), on="item_id", how="left")


def _described(table: pd.DataFrame, id_column: str, kinds: dict[str, str]) -> pd.DataFrame:
    """An attribute table as a person reads it: string ids, without the attributes set to 'ignore' (zip codes,
    urls), but keeping a title or name, which identify an item to a person even when no model reads them."""
    shown = [c for c in table.columns if c == id_column or kinds.get(c) != "ignore" or c in ("title", "name")]
    return table[shown].assign(**{id_column: table[id_column].astype(str)})


def user_history(context: ExploreContext, slice_name: str, user_id: str) -> pd.DataFrame:
    """What a model may know about the user on this slice: training interactions and revealed (few-shot) ones."""
    evaluation_slice = context.test_slice(slice_name)
    training = _rows_of(context.split.train, "user_id", user_id).assign(source="training")
    revealed = _rows_of(evaluation_slice.revealed, "user_id", user_id).assign(source="revealed")
    history = pd.concat([training, revealed], ignore_index=True)[["item_id", "source"]]
    history["item_id"] = history["item_id"].astype(str)
    return with_item_attributes(context, history)


def rank_with_reasons(context: ExploreContext, fitted: FittedRun, users: UserQuery, items: ItemQuery, k: int,
                      history: list[str], user_row: sp.csr_matrix | None, exclude_seen: bool = True) -> RankedItems:
    """Top-k of one model for the single user of `users` among `items`, each with the reason that fits the model
    (items scored -inf, such as seen ones, are left out rather than padded in)."""
    scores, positions = fitted.model.recommend(users, items, k, exclude_seen=exclude_seen)
    finite = torch.isfinite(scores[0])
    ids = [str(items.ids[p]) for p in positions[0][finite].tolist()]
    kind = reason_kind_for(fitted.family, has_history=bool(history),
                           uses_user_features=type(fitted.model).capabilities.uses_user_features)
    reasons = context.explainer.explain(kind, ids, history=history, user_row=user_row)
    return RankedItems(ids, scores[0][finite].numpy().astype(np.float64), reasons, kind)


def _ranked(context: ExploreContext, fitted: FittedRun, users: UserQuery, items: ItemQuery, k: int,
            history: list[str], user_row: sp.csr_matrix | None, hits: set[str] | None = None) -> ModelAnswer:
    """Top-k of one model for one user, with a reason per item and, for a test user (`hits` given), which items
    are held-out positives; a made-up user has no held-out positives, so no such column."""
    ranked = rank_with_reasons(context, fitted, users, items, k, history, user_row)
    ids, reasons, kind = ranked.ids, ranked.reasons, ranked.kind
    table = pd.DataFrame({"rank": np.arange(1, len(ids) + 1), "item_id": ids, "score": ranked.scores,
                          "why": [r.text if isinstance(r, Reason) else "" for r in reasons]})
    if hits is not None:
        table.insert(3, "hit", [i in hits for i in ids])
    given = tuple(sorted({r.kind for r in reasons if isinstance(r, Reason)}))
    return ModelAnswer(fitted, with_item_attributes(context, table), reason_kind=given[0] if len(given) == 1 else kind,
                       reason_kinds=given)


def recommend_for_test_user(context: ExploreContext, runs: list[FittedRun], slice_name: str, user_id: str,
                            k: int = 10) -> list[ModelAnswer]:
    """Each model's top-k for a test user of a slice, over the slice's candidates, held-out positives marked."""
    evaluation_slice = context.test_slice(slice_name)
    revealed = evaluation_slice.revealed
    users = user_query(context.data, [user_id], _rows_of(revealed, "user_id", user_id))
    hits = set(_rows_of(evaluation_slice.truth, "user_id", user_id)["item_id"].astype(str))
    history = user_history(context, slice_name, user_id)["item_id"].tolist()
    user_row = users.features[0] if users.features is not None else None
    answers = []
    for fitted in runs:
        reason = reason_not_served(type(fitted.model), context.data, evaluation_slice)
        if reason is not None:
            answers.append(ModelAnswer(fitted, not_applicable=reason))
            continue
        # the order the evaluator scored this slice's candidates in, so ties break as they did there
        items = item_query(context.data, candidate_order(evaluation_slice.candidate_items, fitted.model.seed,
                                                         slice_name), revealed)
        answers.append(_ranked(context, fitted, users, items, k, history, user_row, hits))
    return answers


CHOICES_LIMIT = 5000
"""Most values offered per attribute. A select box filters its options as one types, so a free tag vocabulary of
thousands stays usable; 50 offered only the commonest tags of a bookmarking catalogue, and a new item described by
its rarer (and most telling) tags could not be entered."""


def attribute_choices(context: ExploreContext, side: str, limit: int = CHOICES_LIMIT) -> dict[str, list[str]]:
    """Values to offer per categorical / multi-valued attribute of users (`side="user"`) or items (`"item"`), the
    most frequent first."""
    table = context.dataset.attribute_table(side)
    kinds = context.dataset.attribute_kinds(side)
    choices: dict[str, list[str]] = {}
    for name, kind in kinds.items():
        if table is None or name not in table.columns:
            continue
        if kind == "categorical":
            values = table[name].dropna().astype(str)
        elif kind == "multi":
            values = multi_value_rows(table[name])["value"]
        else:
            continue
        choices[name] = values.value_counts().index[:limit].tolist()
    return choices


def _sorted_values(context: ExploreContext, side: str, kind: str) -> dict[str, pd.Series]:
    """The present values of each `kind` ("numeric" or "date") attribute, parsed and sorted; empty ones left out."""
    table = context.dataset.attribute_table(side)
    parse = parse_dates if kind == "date" else (lambda v: pd.to_numeric(v, errors="coerce"))
    out = {}
    for name, attribute_kind in context.dataset.attribute_kinds(side).items():
        if attribute_kind == kind and table is not None and name in table.columns:
            values = parse(table[name]).dropna().sort_values()
            if not values.empty:
                out[name] = values
    return out


def numeric_attributes(context: ExploreContext, side: str) -> dict[str, tuple[float, float, float]]:
    """(min, median, max) per numeric attribute, for number inputs."""
    return {name: (float(values.iloc[0]), float(values.median()), float(values.iloc[-1]))
            for name, values in _sorted_values(context, side, "numeric").items()}


def date_attributes(context: ExploreContext, side: str) -> dict[str, tuple[dt.date, dt.date, dt.date]]:
    """(earliest, median, latest) per date attribute, for date inputs."""
    return {name: (dates.iloc[0].date(), dates.iloc[len(dates) // 2].date(), dates.iloc[-1].date())
            for name, dates in _sorted_values(context, side, "date").items()}


def encode_new_entity(context: ExploreContext, side: str, values: dict[str, Any]) -> sp.csr_matrix | None:
    """The feature row of a made-up user or item with attribute `values`, in the columns of the dataset's encoding.

    Categorical, multi-valued and text values are encoded as if appended to the dataset's table
    (`engine.data.features.NewRowEncoder`), so they get the same one-hot, multi-hot and text columns; numbers and
    dates are z-scored and binned with the dataset's own mean, spread and bin edges, as if the made-up entity had
    been there all along. Values the dataset never had (or had too rarely to get a column) contribute nothing,
    exactly as for a real entity.
    """
    features: FeatureMatrix | None = context.data.user_features if side == "user" else context.data.item_features
    table = context.dataset.attribute_table(side)
    if features is None or table is None:
        return None
    id_column = f"{side}_id"
    unknown = sorted(set(values) - set(table.columns))
    if unknown:
        raise ExploreError(f"unknown {side} attribute(s) {', '.join(unknown)}; the dataset has "
                           f"{', '.join(c for c in table.columns if c != id_column)}")
    kinds = context.dataset.attribute_kinds(side)
    encoder = context.row_encoders.get(side)
    if encoder is None:
        levelled = {name for name, kind in kinds.items() if kind in ("numeric", "date")}
        encoder = context.row_encoders[side] = NewRowEncoder(
            table, id_column, {n: k for n, k in kinds.items() if n not in levelled})
    position = {name: i for i, name in enumerate(features.columns)}
    entries = encoder.entries(values)
    for name in sorted(set(values) & set(features.numeric_layouts)):
        layout = features.numeric_layouts[name]
        new_row = layout.encode(numeric_levels(pd.Series([values[name]], dtype=object), kinds[name])).tocoo()
        labels = layout.labels(name)
        entries += [(labels[c], v) for c, v in zip(new_row.col, new_row.data)]
    keep = [(position[label], v) for label, v in entries if label in position]
    cols = [c for c, _ in keep]
    data = [v for _, v in keep]
    return sp.csr_matrix((np.asarray(data, np.float32), ([0] * len(cols), cols)), shape=(1, features.n_features))


def new_user_query(context: ExploreContext, values: dict[str, Any], liked: list[str],
                   features: sp.csr_matrix | None = None) -> UserQuery:
    """The query of a made-up user with attribute `values` who revealed the `liked` training items; `features`,
    when the caller encoded `values` already (the serving API caches encodings), is used as the feature row."""
    unknown = sorted(set(liked) - set(context.data.item_ids))
    if unknown:
        raise ExploreError(f"liked items {', '.join(unknown)} are not training items; pick items from the list")
    revealed = pd.DataFrame({"user_id": NEW_USER_ID, "item_id": list(liked), "weight": 1.0})
    query = user_query(context.data, [NEW_USER_ID], revealed)
    row = features if features is not None else encode_new_entity(context, "user", values)
    return UserQuery(query.ids, query.index, query.history, row)


def recommend_for_new_user(context: ExploreContext, runs: list[FittedRun], values: dict[str, Any],
                           liked: list[str], k: int = 10, excluded: frozenset[str] = frozenset()) -> list[ModelAnswer]:
    """Each model's top-k for a made-up user with attribute `values` who revealed the `liked` training items,
    `excluded` items (say, ones the user said they did not like) never listed.

    Without liked items only models that serve brand-new users answer; with them, fold-in models answer too.
    """
    users = new_user_query(context, values, liked)
    user_row = users.features
    answers = []
    for fitted in runs:
        reason = type(fitted.model).cannot_serve(new_users=True, new_items=False, revealed_users=bool(liked),
                                                 ratings=context.data.ratings is not None)
        if reason is not None:
            answers.append(ModelAnswer(fitted, not_applicable=reason))
            continue
        order = candidate_order(context.data.item_ids, fitted.model.seed, NEW_USER_ID)
        items = item_query(context.data, [item for item in order if item not in excluded] if excluded else order)
        answers.append(_ranked(context, fitted, users, items, k, list(liked), user_row))
    return answers


def audience_for_new_item(context: ExploreContext, runs: list[FittedRun], values: dict[str, Any],
                          n: int = 10) -> list[ModelAnswer]:
    """For a made-up item with attribute `values`: the `n` training users each model scores highest for it, each
    with what fits them to it (the items they liked that share its attributes) and their own attributes, if any."""
    item_row = encode_new_entity(context, "item", values)
    query = item_query(context.data, [NEW_ITEM_ID])
    items = ItemQuery(query.ids, query.index, query.history, item_row)
    users = user_query(context.data, context.data.user_ids)
    user_table = context.dataset.users
    answers = []
    for fitted in runs:
        reason = type(fitted.model).cannot_serve(new_users=False, new_items=True,
                                                 ratings=context.data.ratings is not None)
        if reason is not None:
            answers.append(ModelAnswer(fitted, not_applicable=reason))
            continue
        scores = fitted.model.score(users, items).float().cpu()[:, 0]
        values, positions = top_k(scores[None, :], n)  # ties: the users in training order
        audience = [str(users.ids[i]) for i in positions[0].tolist()]
        table = pd.DataFrame({"rank": np.arange(1, positions.shape[1] + 1), "user_id": audience,
                              "score": values[0].numpy().astype(np.float64),
                              "why": [r.text for r in context.explainer.audience_fit(item_row, audience)]})
        if user_table is not None:  # who they are, beside what they liked
            table = table.merge(_described(user_table, "user_id", context.dataset.user_kinds), on="user_id",
                                how="left")
        answers.append(ModelAnswer(fitted, table, reason_kind="audience", reason_kinds=("audience",)))
    return answers
