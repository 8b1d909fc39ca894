"""One finished run, loaded once and answering the questions the HTTP API asks; no HTTP in here.

The model, the experiment's training data and the explainer come from `engine.analysis.explore`, so the API
scores exactly what the Explore page shows. The catalogue is the training items plus, for a model that scores new
items, the dataset's cold items and items added while serving; added items are journalled so a restart serves
them again. Every refusal is a `ServingError` carrying the HTTP status and a message that says what to send instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from engine.analysis.explain import item_labels, reason_kind_for
from engine.analysis.explore import (NEW_USER_ID, ExploreContext, ExploreError, FittedRun, RankedItems,
                                     audience_for_new_item, encode_new_entity, load_context, load_fitted_run,
                                     new_user_query)
from engine.core.data import UserQuery
from engine.core.model import Capabilities
from engine.data.catalog import DatasetInfo, get_dataset_info
from engine.data.cell_values import multi_value_rows, weighted_notation, weighted_values
from engine.privacy.ids import ForgottenUsers
from engine.protocols.split import EvalSlice
from engine.runs.experiments import get_experiment
from engine.serving.catalogue import Catalogue, Remembered, all_trained_users, build_catalogue, seeded_order, top_k
from engine.serving.feedback_loop import is_version_of, served_feedback
from engine.store.journal import feedback_journal, items_journal

ServedPath = Literal["known", "fold-in", "attributes", "popularity"]
"""How a user was served: a user the model was fitted on, folded in from liked items, from attributes, or with
the one list a model gives everybody it cannot tell apart."""


ENCODINGS_KEPT = 4096
"""Attribute encodings of new users and items remembered (least recently used dropped first)."""
SCORE_ROWS_KEPT = 1024
"""Score rows of new users described by attributes alone remembered (6.7 kB each for ML-100K's catalogue)."""
FILTERS_KEPT = 256
"""Candidate positions of item filters remembered."""


class ServingError(ValueError):
    """A request the run cannot answer as asked; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Recommendation:
    """A ranked answer, which path served it and how many of the user's feedback items it took into account."""

    path: ServedPath
    ranked: RankedItems
    feedback_items: int = 0


@dataclass
class TakenOver:
    """What a swap carried from the run served before into the new one, and what it could not, with why."""

    items_carried: list[str] = field(default_factory=list)
    items_present: list[str] = field(default_factory=list)
    items_refused: dict[str, str] = field(default_factory=dict)
    feedback_events: int = 0
    feedback_carried: int = 0
    feedback_note: str = ""


def _feedback_key(record: dict[str, Any]) -> int:
    """One feedback event, however often it was carried from run to run (a hash: a server counts every event
    it ever received, and a 64-bit hash per event keeps that small)."""
    return hash((str(record["user_id"]), str(record["item_id"]), str(record.get("received_at"))))


def _values_key(values: dict[str, Any]) -> tuple:
    """Attribute values (or a filter) as a hashable key, the same whatever their order."""
    return tuple(sorted((name, repr(value)) for name, value in values.items()))


def known_users_slice(slices: list[EvalSlice], training_items: frozenset[str]) -> EvalSlice | None:
    """The test slice that ranked trained users among the training items (warm, or temporal), if any: the one
    whose seeded candidate order a trained user's ties break in, as in the evaluation and in Explore."""
    return next((s for s in slices if not s.new_users and not s.new_items and s.revealed is None
                 and frozenset(map(str, s.candidate_items)) == training_items), None)


def _shown(values: list[str], limit: int = 10) -> str:
    return ", ".join(values[:limit]) + (f" (and {len(values) - limit} more)" if len(values) > limit else "")


class ServedRun:
    """A finished run ready to serve: model, training data, catalogue, journals of added items and feedback."""

    def __init__(self, fitted: FittedRun, context: ExploreContext, dataset: DatasetInfo) -> None:
        self.fitted = fitted
        self.context = context
        self.dataset = dataset
        self.protocol = get_experiment(context.experiment_id).protocol
        self.items_journal = items_journal(fitted.run_id)
        self.feedback_journal = feedback_journal(fitted.run_id)
        self.forgotten = ForgottenUsers(dataset.id)
        self._lock = threading.Lock()  # adding items
        self._feedback_lock = threading.Lock()
        self._successor: ServedRun | None = None
        """The run swapped in after this one: items and feedback that reach this one late are handed on to it."""
        data = context.data
        self._encodings: Remembered[sp.csr_matrix | None] = Remembered(ENCODINGS_KEPT)
        self._new_user_scores: Remembered[np.ndarray] = Remembered(SCORE_ROWS_KEPT)
        self._filters: Remembered[np.ndarray] = Remembered(FILTERS_KEPT)
        self._user_positions = {str(user): position for position, user in enumerate(data.user_ids)}
        self._item_positions = {str(item): position for position, item in enumerate(data.item_ids)}
        self._feature_rows = ({str(user): row for row, user in enumerate(data.user_features.ids)}
                              if data.user_features is not None else {})
        training = [str(i) for i in data.item_ids]
        cold = []
        if self.capabilities.new_items and context.dataset.items is not None:
            known = set(training)
            cold = [i for i in context.dataset.items["item_id"].astype(str) if i not in known]
        self.catalogue: tuple[str, ...] = tuple(training + cold)
        # membership sets, replaced (not mutated) when an item is added, so readers never see one half-updated
        self._training_items: frozenset[str] = frozenset(training)
        self._in_catalogue: frozenset[str] = frozenset(self.catalogue)
        items = context.dataset.items
        self.item_table = (items.assign(item_id=items["item_id"].astype(str)) if items is not None
                           else pd.DataFrame({"item_id": list(self.catalogue)}))
        self.added_items: list[dict[str, Any]] = []
        """The items journal's records applied so far: what a swap carries into the next run."""
        for record in self.items_journal.records():
            self._apply_item(record, encode_new_entity(context, "item", record["attributes"]))
        self.feedback_events = 0
        """Feedback events counted for this run: its dataset's served feedback (what swaps carried in included)."""
        self._feedback_keys: set[int] = set()
        """A hash per counted event, so none is counted twice (the records themselves stay on disk)."""
        self._fresh: dict[str, tuple[str, ...]] = {}
        """User id -> items their feedback named, in order (a tuple replaced, never mutated, for lock-free reads)."""
        self._trained_pairs: frozenset[tuple[str, str]] | None = None
        self._note_feedback(served_feedback(dataset.id))
        self._all_users = all_trained_users(data)
        # ties break as in Explore and the evaluator: a new user's list in Explore's order for a made-up user, a
        # trained user's in the order of the slice that evaluated them (the warm one), when the experiment has it
        self._new_user_order = seeded_order(tuple(training), data.item_ids, fitted.model.seed, NEW_USER_ID)
        warm = known_users_slice(context.split.test, self._training_items)
        self._known_user_order = (seeded_order(tuple(training), warm.candidate_items, fitted.model.seed, warm.name)
                                  if warm is not None else self._new_user_order)
        self._view_lock = threading.Lock()
        self._view = build_catalogue(self.fitted.model, data, self.catalogue, self._all_users, None)

    @classmethod
    def load(cls, run_id: int) -> "ServedRun":
        """Load run `run_id`, its experiment and dataset; an `ExploreError` with the reason when it has no loadable
        model or was trained on data a user asked to forget (its model still encodes them)."""
        fitted = load_fitted_run(run_id)
        context = load_context(fitted.experiment_id)
        dataset = get_dataset_info(get_experiment(context.experiment_id).dataset_id)
        return cls(fitted, context, dataset)

    @property
    def capabilities(self) -> Capabilities:
        return type(self.fitted.model).capabilities

    @property
    def label(self) -> str:
        return self.fitted.label

    # -- users ---------------------------------------------------------------------------------------------------
    def refuse_forgotten(self, user_id: str) -> None:
        """A 410 for a user who asked to be forgotten (checked against the shared list on every request)."""
        if user_id in self.forgotten:
            raise ServingError(410, "this user asked to be forgotten: their data was erased and they are not "
                                    "served or recorded any more")

    def recommend_for_user(self, user_id: str, k: int, exclude_seen: bool, where: dict[str, Any],
                           reasons: bool = True) -> Recommendation:
        """Top-k for a user the model was fitted on, among the catalogue items matching `where` (with a reason each
        when `reasons`)."""
        data = self.context.data
        self.refuse_forgotten(user_id)
        position = self._user_positions.get(user_id, -1)
        if position < 0:
            hint = ("it is in the dataset but not in this run's training data (a cold user): "
                    "POST /recommendations/new-user with its attributes or liked items"
                    if self._dataset_has_user(user_id) else "check the id, or POST /recommendations/new-user")
            raise ServingError(404, f"user {user_id!r} is unknown to run {self.fitted.run_id}; {hint}")
        users = self._known_user_query(user_id, position)
        trained = users.history.indices
        history = [str(data.item_ids[i]) for i in trained]
        fresh = self._fresh.get(user_id, ())
        view = self.catalogue_view()
        path: ServedPath = "known"
        if fresh:
            named = set(history)
            history += [item for item in fresh if item not in named]
            added = np.setdiff1d(np.asarray([self._item_positions[item] for item in fresh
                                             if item in self._item_positions], dtype=np.int64), trained)
            if len(added) and self.capabilities.user_fold_in:
                # feedback on training items joins the user's history, and a model that folds users in scores
                # them from the whole history (as a new user's) instead of the vector fitted without it
                extra = sp.csr_matrix((np.ones(len(added), np.float32), (np.zeros(len(added), np.int64), added)),
                                      shape=users.history.shape)
                users = UserQuery(users.ids, np.asarray([-1], dtype=np.int64), (users.history + extra).tocsr(),
                                  users.features)
                path = "fold-in"
        if path == "known" and view.known_scores is not None:
            scores = view.known_scores[position]
        else:
            scores = self._live_scores(users, view)
        seen = None
        if exclude_seen:  # training items sit at their training positions in the catalogue
            seen = np.union1d(trained, np.asarray([view.positions[item] for item in fresh if item in view.positions],
                                                  dtype=np.int64))
        ranked = self._ranked(view, scores, k, self._known_user_order, seen, where, history, users.features,
                              reasons)
        return Recommendation(path, ranked, feedback_items=len(fresh))

    def _known_user_query(self, user_id: str, position: int) -> UserQuery:
        """`user_query` for one trained user from positions kept at load time (building a pandas index of every
        user id per request cost more than scoring)."""
        data = self.context.data
        features = None
        if data.user_features is not None:
            row = self._feature_rows.get(user_id)
            features = (data.user_features.matrix[[row]].tocsr() if row is not None
                        else sp.csr_matrix((1, data.user_features.n_features), dtype=np.float32))
        return UserQuery(np.asarray([user_id], dtype=object), np.asarray([position], dtype=np.int64),
                         data.matrix[[position]].tocsr(), features)

    def recommend_for_new_user(self, attributes: dict[str, Any], liked: list[str], k: int, where: dict[str, Any],
                               reasons: bool = True) -> Recommendation:
        """Top-k for a user the model never saw, from attributes and a few liked training items; a 422 with the
        model's own reason when it cannot serve such a user, never another model's answer instead."""
        reason = type(self.fitted.model).cannot_serve(new_users=True, new_items=False, revealed_users=bool(liked),
                                                      ratings=self.context.data.ratings is not None)
        if reason is not None:
            raise ServingError(422, f"{reason}; this run cannot serve new users as asked")
        unknown = sorted(item for item in set(liked) if item not in self._training_items)
        if unknown:
            raise ServingError(422, f"liked: {_shown(unknown)} are not training items of run {self.fitted.run_id}; "
                                    "a new user is folded in from items the model was trained on")
        if attributes and self.context.dataset.users is None:
            raise ServingError(422, "the dataset has no user attributes; send liked items only")
        row = self.encode_attributes("user", attributes)
        path = self._new_user_path(bool(liked), row)
        liked_positions = np.asarray([self._item_positions[item] for item in liked], dtype=np.int64)
        history = sp.csr_matrix((np.ones(len(liked), np.float32), (np.zeros(len(liked), np.int64), liked_positions)),
                                shape=(1, len(self.context.data.item_ids)))
        history.sum_duplicates()
        users = UserQuery(np.asarray([NEW_USER_ID], dtype=object), np.asarray([-1], dtype=np.int64), history, row)
        view = self.catalogue_view()
        if liked:
            scores = self._live_scores(users, view)
        else:  # the answer depends on the attributes alone: scored once per combination and catalogue
            key = (self._encoding_key("user", attributes), len(view.ids))
            scores = self._new_user_scores.get(key, lambda: self._live_scores(users, view))
        ranked = self._ranked(view, scores, k, self._new_user_order, np.unique(liked_positions), where, list(liked),
                              row, reasons)
        return Recommendation(path, ranked)

    def _live_scores(self, users: UserQuery, view: Catalogue) -> np.ndarray:
        """The model's scores of the single user of `users` for every catalogue item."""
        with torch.inference_mode():
            return self.fitted.model.score(users, view.query).float().cpu().numpy()[0]

    def _ranked(self, view: Catalogue, scores: np.ndarray, k: int, order: np.ndarray, excluded: np.ndarray | None,
                where: dict[str, Any], history: list[str], user_row: sp.csr_matrix | None,
                explain: bool = True) -> RankedItems:
        """The top-k of `scores` (one per catalogue item, ties broken in the seeded `order`) among the items
        matching `where`, `excluded` positions left out, each with the reason that fits the model for a user with
        `history` (when `explain`: it is about a third of a request's work)."""
        candidates = self._filter_positions(view, where) if where else None
        positions, best = top_k(scores, k, order, excluded, candidates)
        ids = [view.ids[p] for p in positions.tolist()]
        fitted = self.fitted
        kind = reason_kind_for(fitted.family, has_history=bool(history),
                               uses_user_features=self.capabilities.uses_user_features)
        reasons = (self.context.explainer.explain(kind, ids, history=history, user_row=user_row) if explain
                   else [None] * len(ids))
        return RankedItems(ids, best.astype(np.float64), reasons, kind)

    def _new_user_path(self, has_liked: bool, features: sp.csr_matrix | None) -> ServedPath:
        """Which path serves a new user, or the 422 for attributes of which none matches the dataset's."""
        caps = self.capabilities
        if has_liked and caps.user_fold_in:
            return "fold-in"
        if caps.uses_user_features:
            if features is None or features.nnz == 0:
                raise self._nothing_matches("user")
            return "attributes"
        return "popularity"

    def encode_attributes(self, side: str, values: dict[str, Any], required: bool = False) -> sp.csr_matrix | None:
        """The feature row of a new user or item (`side`) with attribute `values`; a 422 for the id column sent as
        an attribute, for numbers so far outside the dataset's range that they encode to inf, and, when `required`
        (the model scores from attributes alone), for values of which none matches the dataset's."""
        id_column = f"{side}_id"
        if id_column in values:
            raise ServingError(422, f"attributes: {id_column} is the {side}'s id, not an attribute; leave it out")
        row = self._encoded(side, values)
        if row is not None and not np.isfinite(row.data).all():
            raise ServingError(422, f"attributes {values} lie too far outside the dataset's range to be scored; "
                                    f"send values like the dataset's ({self._attribute_examples(side)})")
        if required and (row is None or row.nnz == 0):
            raise self._nothing_matches(side)
        return row

    def _encoded(self, side: str, values: dict[str, Any]) -> sp.csr_matrix | None:
        """`encode_new_entity`, remembered per side and values: encoding re-reads the whole attribute table, and
        new users asking with the same few attribute values are the common case."""
        return self._encodings.get(self._encoding_key(side, values),
                                   lambda: encode_new_entity(self.context, side, values))

    @staticmethod
    def _encoding_key(side: str, values: dict[str, Any]) -> tuple:
        return side, _values_key(values)

    def _nothing_matches(self, side: str) -> ServingError:
        return ServingError(422, f"{self.label} scores a new {side} from attributes, and none of the values sent "
                                 f"matches the dataset's {side} attributes; send values the dataset has "
                                 f"({self._attribute_examples(side)})")

    def _dataset_has_user(self, user_id: str) -> bool:
        users = self.context.dataset.users
        return users is not None and user_id in set(users["user_id"].astype(str))

    def _attribute_examples(self, side: str) -> str:
        table = self.context.dataset.attribute_table(side)
        if table is None or table.empty:
            return f"the dataset has no {side} attributes"
        row = table.iloc[0]
        return ", ".join(f"{name}={row[name]}" for name in table.columns[:4] if name != f"{side}_id"
                         and pd.notna(row[name])) + ", ..."

    # -- items ---------------------------------------------------------------------------------------------------
    def catalogue_view(self) -> Catalogue:
        """The current catalogue with its query and the trained users' scores; items added since the last view
        get their score column now (one batch for all of them), the rest is reused."""
        view = self._view
        if len(view.ids) == len(self.catalogue):
            return view
        with self._view_lock:
            if len(self._view.ids) != len(self.catalogue):
                self._view = build_catalogue(self.fitted.model, self.context.data, self.catalogue, self._all_users,
                                             self._view)
            return self._view

    def _filter_positions(self, view: Catalogue, where: dict[str, Any]) -> np.ndarray:
        """Catalogue positions of the items matching `where`, remembered per filter and catalogue size."""
        key = (_values_key(where), len(view.ids))
        return self._filters.get(key, lambda: np.asarray([view.positions[item] for item in self.candidates(where)],
                                                         dtype=np.int64))

    def candidates(self, where: dict[str, Any]) -> list[str]:
        """Catalogue items whose attributes match every `name: value` of `where` (a multi-valued attribute such as
        `tags` matches when one of its values does)."""
        catalogue = list(self.catalogue)
        if not where:
            return catalogue
        table = self.item_table.set_index("item_id").reindex(catalogue)
        keep = np.ones(len(catalogue), dtype=bool)
        kinds = self.context.dataset.item_kinds
        for name, value in where.items():
            if name not in table.columns:
                raise ServingError(422, f"filter: unknown item attribute {name!r}; the items have "
                                        f"{_shown(list(table.columns)) or 'no attributes'}")
            if kinds.get(name) == "multi":
                parts = multi_value_rows(table[name])
                matches = np.isin(np.arange(len(table)), parts.loc[parts["value"] == str(value), "row"])
            else:
                matches = (table[name].astype("string").fillna("") == str(value)).to_numpy(dtype=bool)
            keep &= matches
        if not keep.any():
            raise ServingError(422, f"filter {where} matches no item of the catalogue; check the values "
                                    f"(e.g. {next(iter(where))} is {self._attribute_examples('item')})")
        return [item for item, kept in zip(catalogue, keep) if kept]

    def add_item(self, item_id: str, attributes: dict[str, Any]) -> None:
        """Make a new item recommendable at once; journalled (fsync'd) first, so it survives a restart. Once this
        run was swapped out, the item goes to the run that replaced it."""
        self._refuse_new_items()
        with self._lock:
            if self._successor is not None:
                self._successor.add_item(item_id, attributes)
                return
            if item_id in self._in_catalogue or item_id in set(self.item_table["item_id"]):
                raise ServingError(409, f"item {item_id!r} already exists; choose another item id")
            # weighted values in their stored notation, as the dataset keeps them (and a retrained version saves)
            attributes = {name: weighted_notation(weighted_values(value) or {}) if isinstance(value, dict) else value
                          for name, value in attributes.items()}
            row = self.encode_attributes("item", attributes, required=self.capabilities.uses_item_features)
            record = {"item_id": item_id, "attributes": attributes,
                      "added_at": dt.datetime.now(dt.timezone.utc).isoformat()}
            self.items_journal.append(record)
            self._apply_item(record, row)

    def _refuse_new_items(self) -> None:
        reason = type(self.fitted.model).cannot_serve(new_users=False, new_items=True,
                                                      ratings=self.context.data.ratings is not None)
        if reason is not None:
            raise ServingError(422, f"{reason}; this run cannot make new items recommendable")

    def _apply_item(self, record: dict[str, Any], row: sp.csr_matrix | None) -> None:
        """Extend the item features (by `row`, its encoding), attribute table, labels and catalogue by the item of
        an items journal `record`."""
        item_id, attributes = record["item_id"], record["attributes"]
        data = self.context.data
        if row is not None and data.item_features is not None:
            features = data.item_features
            # the explainer reads the same TrainData, so the new item's attributes also give it reasons
            data.item_features = dataclasses.replace(features, ids=np.append(features.ids, item_id),
                                                     matrix=sp.vstack([features.matrix, row]).tocsr())
        entry = pd.DataFrame([{"item_id": item_id, **attributes}])
        self.item_table = pd.concat([self.item_table, entry], ignore_index=True)
        self.context.explainer.labels.update(item_labels(entry))
        self.catalogue = (*self.catalogue, item_id)
        self._in_catalogue = self._in_catalogue | {item_id}
        self.added_items.append(record)

    def similar_items(self, item_id: str, k: int) -> RankedItems:
        """What the model recommends to someone who liked only `item_id`: its item-to-item view."""
        if item_id not in self._in_catalogue:
            raise ServingError(404, f"item {item_id!r} is not in the catalogue of run {self.fitted.run_id}; "
                                    "check the id (GET /health names the dataset)")
        if item_id not in self._training_items:
            raise ServingError(422, f"item {item_id!r} has no training interactions, so no liked-item evidence "
                                    "links it to others; ask POST /items/audience with its attributes instead")
        if not self.capabilities.user_fold_in:
            raise ServingError(422, f"{self.label} cannot fold in a user from liked items, so it has no "
                                    "item-to-item view; use a run of a fold-in model such as itemknn")
        users = new_user_query(self.context, {}, [item_id])
        view = self.catalogue_view()
        excluded = np.asarray([view.positions[item_id]])
        return self._ranked(view, self._live_scores(users, view), k, self._new_user_order, excluded, {}, [item_id],
                            None)

    def audience(self, attributes: dict[str, Any], n: int) -> pd.DataFrame:
        """The `n` training users the model scores highest for a new item with `attributes` (user_id, score)."""
        self.encode_attributes("item", attributes, required=self.capabilities.uses_item_features)
        answer = audience_for_new_item(self.context, [self.fitted], attributes, n + self.forgotten.size())[0]
        if answer.not_applicable is not None:
            raise ServingError(422, f"{answer.not_applicable}; this run cannot find an audience for a new item")
        table = answer.table[["user_id", "score"]]
        return table.loc[[user not in self.forgotten for user in table["user_id"].astype(str)]].head(n)

    # -- feedback ------------------------------------------------------------------------------------------------
    async def record_feedback(self, record: dict[str, Any]) -> None:
        """Append one feedback event to the journal for an item of the catalogue, returning once it is fsync'd
        (awaited, so concurrent events share the journal writer's next write and fdatasync without a thread each);
        from now on the user's recommendations count it as seen (and a fold-in model folds it in). An event that
        reaches this run after it was swapped out is handed on to the run that replaced it."""
        self.refuse_forgotten(record["user_id"])
        if record["item_id"] not in self._in_catalogue:
            raise ServingError(404, f"item_id {record['item_id']!r} is not in the catalogue; feedback must name an "
                                    "item the run serves (POST /items adds one)")
        await asyncio.wrap_future(self.feedback_journal.submit([record]))
        with self._feedback_lock:
            successor = self._successor
            if successor is None:
                self._note_feedback([record])
                return
        # rare (a request that started before a swap): carrying may append to another journal, off the loop
        await asyncio.to_thread(successor.carry_feedback, self, [record])

    def _note_feedback(self, records: list[dict[str, Any]]) -> None:
        """Count `records` (each event once) and remember the items they name per trained user (the others'
        feedback shapes no answer of this run)."""
        for record in records:
            key = _feedback_key(record)
            if key in self._feedback_keys:
                continue
            self._feedback_keys.add(key)
            self.feedback_events += 1
            user, item = str(record["user_id"]), str(record["item_id"])
            if user not in self._user_positions:
                continue
            named = self._fresh.get(user, ())
            if item not in named:
                self._fresh[user] = (*named, item)

    # -- swapping ------------------------------------------------------------------------------------------------
    def take_over(self, previous: "ServedRun") -> TakenOver:
        """Carry what `previous` gathered while served into this run, before this run is swapped in: the items added
        to it (replayed here and journalled, where this model serves new items and their attributes encode) and
        its feedback (see `carry_feedback`). From here on `previous` hands late arrivals on to this run."""
        with previous._lock, previous._feedback_lock:
            taken = self._carry_items(previous)
            # every event `previous` counted is in its dataset's journals (carried ones in its own)
            records = served_feedback(previous.dataset.id)
            taken.feedback_carried, taken.feedback_note = self.carry_feedback(previous, records)
            previous._successor = self
        taken.feedback_events = self.feedback_events
        return taken

    def _carry_items(self, previous: "ServedRun") -> TakenOver:
        taken = TakenOver()
        replayed: list[tuple[dict[str, Any], sp.csr_matrix | None]] = []
        with self._lock:
            for record in previous.added_items:
                item_id = record["item_id"]
                if item_id in self._in_catalogue:
                    taken.items_present.append(item_id)
                    continue
                try:
                    self._refuse_new_items()
                    row = self.encode_attributes("item", record["attributes"],
                                                 required=self.capabilities.uses_item_features)
                except (ServingError, ExploreError) as error:
                    taken.items_refused[item_id] = " ".join(str(error).split())
                    continue
                replayed.append(({**record, "carried_from_run": previous.fitted.run_id}, row))
            self.items_journal.extend([record for record, _ in replayed])
            for record, row in replayed:
                self._apply_item(record, row)
        taken.items_carried = [record["item_id"] for record, _ in replayed]
        return taken

    def carry_feedback(self, previous: "ServedRun", records: list[dict[str, Any]]) -> tuple[int, str]:
        """Count `previous`'s feedback `records` here too; how many were journalled for this run, and a note.

        Same dataset: the dataset's feedback is already this run's (nothing to copy). A version made from
        `previous`'s dataset: the events its data does not hold yet are appended to this run's journal (so the
        next retrain and the Data page count them). Any other dataset: its users and items are not this run's, so
        nothing is carried and the events stay counted under their own dataset."""
        if previous.dataset.id == self.dataset.id:
            with self._feedback_lock:
                self._note_feedback(records)
            return 0, (f"same dataset '{self.dataset.name}': its {self.feedback_events} feedback events are counted as "
                       "before")
        if not is_version_of(self.dataset.id, previous.dataset.id):
            return 0, (f"not carried: dataset '{self.dataset.name}' was not made from '{previous.dataset.name}', so "
                       f"its {len(records)} feedback events stay counted under '{previous.dataset.name}'")
        trained = self._dataset_pairs()
        carried = [record | {"carried_from_run": previous.fitted.run_id} for record in records
                   if _feedback_key(record) not in self._feedback_keys
                   and (str(record["user_id"]), str(record["item_id"])) not in trained]
        self.feedback_journal.extend(carried)
        with self._feedback_lock:
            self._note_feedback(carried)
        return len(carried), (f"{len(carried)} of {len(records)} feedback events carried from dataset "
                              f"'{previous.dataset.name}'; the others are in '{self.dataset.name}' already")

    def _dataset_pairs(self) -> frozenset[tuple[str, str]]:
        """(user, item) pairs of this run's dataset, built on first use."""
        if self._trained_pairs is None:
            frame = self.context.dataset.interactions
            self._trained_pairs = frozenset(zip(frame["user_id"].astype(str), frame["item_id"].astype(str)))
        return self._trained_pairs
