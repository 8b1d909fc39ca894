"""Evaluate a fitted model on a split's slices: full ranking over each slice's candidates, per-user values kept.

For each slice the model is first asked whether it can serve it (`Recommender.cannot_serve`); if not, the slice is
reported as not applicable with the model's reason. Otherwise users are scored in chunks sized so that a chunk's
score matrix stays bounded, items the user had in training (or revealed) are excluded, and every metric of
`engine.metrics` is computed per user. Ties in scores are broken by a seeded random order of the candidates, so a
model that scores everything equal ranks at random rather than in id order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from engine.core.data import ItemQuery, TrainData
from engine.core.model import Recommender
from engine.core.ranking import top_k
from engine.data.indexing import item_query, user_query
from engine.metrics.beyond import beyond_accuracy, candidate_popularity, coverage, normalized_rows
from engine.metrics.document import MetricSummary, NotApplicable, SliceResult, slice_metric
from engine.metrics.names import VALIDATION_METRIC, split_metric_name
from engine.metrics.ranking import AT_K_METRICS, at_k_metrics, auc_from_positions, candidate_order
from engine.metrics.ratings import rating_errors
from engine.metrics.statistics import DEFAULT_BOOTSTRAP, ValidationTerms, bootstrap_ci, bootstrap_means
from engine.protocols.split import EvalSlice, Split

DEFAULT_KS = (10, 20, 50)
CHUNK_ELEMENTS = 1 << 24
"""Scores per chunk (users x candidates); with the sort for AUC a chunk needs about 20 bytes per element (320 MB).
Larger chunks than 1 << 22 spread the per-chunk work (a model's candidate vectors, the query) over 4x the users:
18% less CPU for 2,000 users x 30k items."""
RATING_SUMS = ("squared_error", "absolute_error", "rated")


@dataclass
class Evaluation:
    """What `evaluate` returns: the results.json `slices` entry, per-user values, and optional top-K lists.

    `slices[SLICE]` maps metric names to a `MetricSummary`, or is `NotApplicable` with the model's reason.
    `per_user` has one row per (slice, user): `slice`, `user_id`, `history` (interactions the model saw) and one
    column per per-user metric (NaN for users without a held-out positive among the candidates).
    """

    slices: dict[str, SliceResult]
    per_user: pd.DataFrame
    excluded_users: dict[str, int] = field(default_factory=dict)
    recommendations: dict[str, pd.DataFrame] = field(default_factory=dict)

    def metric(self, slice_name: str, metric: str) -> MetricSummary:
        """The summary of `metric` on `slice_name` (a `NotServedError` saying why when there is none)."""
        return slice_metric(self.slices, slice_name, metric)


def reason_not_served(model_class: type[Recommender], train: TrainData, evaluation_slice: EvalSlice) -> str | None:
    """Why the model cannot serve this slice, or None: new users or items, with or without revealed rows."""
    revealed = evaluation_slice.revealed
    revealed_users = revealed_items = False
    if revealed is not None and not revealed.empty:
        revealed_users = bool((~revealed["user_id"].isin(train.user_ids)).any())
        revealed_items = bool((~revealed["item_id"].isin(train.item_ids)).any())
    return model_class.cannot_serve(new_users=evaluation_slice.new_users, new_items=evaluation_slice.new_items,
                                    revealed_users=revealed_users, revealed_items=revealed_items,
                                    ratings=train.ratings is not None)


@dataclass
class _SliceAccumulator:
    """Per-user values of one slice, gathered chunk by chunk."""

    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)
    recommendations: list[pd.DataFrame] = field(default_factory=list)

    def add(self, values: dict[str, np.ndarray]) -> None:
        """Append one chunk's per-user columns."""
        for name, array in values.items():
            self.columns.setdefault(name, []).append(np.asarray(array))

    def frame(self) -> pd.DataFrame:
        """All chunks as one per-user frame."""
        return pd.DataFrame({name: np.concatenate(parts) for name, parts in self.columns.items()})


@dataclass
class _IndexedTruth:
    """A slice's held-out positives as (user position, candidate position) sorted by user, sliced per chunk."""

    user_pos: np.ndarray
    item_pos: np.ndarray
    ratings: np.ndarray | None

    @classmethod
    def build(cls, truth: pd.DataFrame, users: np.ndarray, candidates: pd.Index) -> "_IndexedTruth":
        """Index once per slice; rows whose item is not a candidate are left out."""
        user_pos = pd.Index(users).get_indexer(truth["user_id"])
        item_pos = candidates.get_indexer(truth["item_id"])
        keep = item_pos >= 0
        order = np.argsort(user_pos[keep], kind="stable")
        ratings = truth["rating"].to_numpy(np.float64)[keep][order] if "rating" in truth.columns else None
        return cls(user_pos[keep][order], item_pos[keep][order], ratings)

    def chunk(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Positions (user within the chunk, candidate) and ratings of users start..stop-1."""
        low, high = np.searchsorted(self.user_pos, [start, stop])
        ratings = self.ratings[low:high] if self.ratings is not None else None
        return self.user_pos[low:high] - start, self.item_pos[low:high], ratings


def _score_chunk(model: Recommender, train: TrainData, items: ItemQuery, evaluation_slice: EvalSlice,
                 chunk_users: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """Scores of a chunk with excluded candidates at -inf, and each user's history length."""
    users = user_query(train, chunk_users, evaluation_slice.revealed)
    return model.ranking_scores(users, items), np.diff(users.history.indptr)


def _evaluate_slice(model: Recommender, train: TrainData, evaluation_slice: EvalSlice, ks: Sequence[int], seed: int,
                    beyond: bool, keep_recommendations: bool) -> _SliceAccumulator:
    """Per-user metric values of one servable slice."""
    candidate_ids = candidate_order(evaluation_slice.candidate_items, seed, evaluation_slice.name)
    candidates = pd.Index(candidate_ids)
    items = item_query(train, candidate_ids, evaluation_slice.revealed)
    truth = evaluation_slice.truth
    users = np.asarray(sorted(truth["user_id"].unique()), dtype=object)
    indexed = _IndexedTruth.build(truth, users, candidates)
    max_k = max(ks)
    popularity = candidate_popularity(np.diff(train.matrix.tocsc().indptr), items.index, train.n_users)
    unit_features = normalized_rows(items.features) if beyond and items.features is not None else None
    with_ratings = model.capabilities.predicts_ratings and "rating" in truth.columns and truth["rating"].notna().any()
    covered = {k: np.zeros(len(candidates), dtype=bool) for k in ks}
    chunk = max(1, CHUNK_ELEMENTS // max(len(candidates), 1))
    out = _SliceAccumulator()
    for start in range(0, len(users), chunk):
        chunk_users = users[start:start + chunk]
        scores, history = _score_chunk(model, train, items, evaluation_slice, chunk_users)
        user_pos, item_pos, ratings = indexed.chunk(start, start + len(chunk_users))
        rows_t = torch.as_tensor(user_pos, device=scores.device)
        cols_t = torch.as_tensor(item_pos, device=scores.device)
        # a held-out positive the user already had (possible in imported splits) is excluded, not relevant
        kept = ~torch.isneginf(scores[rows_t, cols_t])
        rows_t, cols_t = rows_t[kept], cols_t[kept]
        relevant = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
        relevant[rows_t, cols_t] = True
        top_scores, top_positions = top_k(scores, max_k)
        listed = ~torch.isneginf(top_scores)
        n_relevant = torch.bincount(rows_t, minlength=len(chunk_users))
        values = {name: v.cpu().numpy() for name, v in
                  at_k_metrics(relevant.gather(1, top_positions) & listed, n_relevant, ks).items()}
        values["auc"] = auc_from_positions(scores, rows_t, cols_t).cpu().numpy()
        if beyond:
            values.update(beyond_accuracy(top_positions, listed, popularity, train.n_users, ks, unit_features))
            positions, real = top_positions.cpu().numpy(), listed.cpu().numpy()
            for k in ks:
                covered[k][positions[:, :k][real[:, :k]]] = True
        if with_ratings:
            rated = ~np.isnan(ratings)
            values.update(rating_errors(scores.nan_to_num(neginf=0.0), user_pos[rated], item_pos[rated],
                                        ratings[rated], len(chunk_users)))
        out.add({"user_id": chunk_users, "history": history, **values})
        if keep_recommendations:
            positions, real = top_positions.cpu().numpy(), listed.cpu().numpy()
            user_index, rank = np.nonzero(real)
            out.recommendations.append(pd.DataFrame({
                "user_id": chunk_users[user_index], "item_id": candidate_ids[positions[user_index, rank]],
                "rank": rank + 1, "score": top_scores.cpu().numpy()[user_index, rank]}))
    if beyond:
        out.add({f"coverage@{k}": np.full(len(users), coverage(covered[k])) for k in ks})
    return out


def _summarise(per_user: pd.DataFrame, ks: Sequence[int], n_bootstrap: int, seed: int) -> dict[str, MetricSummary]:
    """results.json entries of one slice: mean, bootstrap CI and user count per metric."""
    counted = per_user[f"recall@{ks[0]}"].notna()
    summary: dict[str, MetricSummary] = {}
    metric_columns = [c for c in per_user.columns if c not in ("user_id", "history", *RATING_SUMS)
                      and not c.startswith("coverage@")]
    values = per_user.loc[counted, metric_columns].to_numpy(np.float64)
    intervals = bootstrap_ci(values, n_bootstrap, seed=seed) if n_bootstrap and len(values) else None
    for j, name in enumerate(metric_columns):
        column = values[:, j]
        n = int((~np.isnan(column)).sum())
        mean = float(np.nanmean(column)) if n else None
        ci = (float(intervals[j, 0]), float(intervals[j, 1])) if intervals is not None and n else None
        summary[name] = MetricSummary(mean=mean, ci=ci, n_users=n)
    for name in (c for c in per_user.columns if c.startswith("coverage@")):
        summary[name] = MetricSummary(mean=float(per_user[name].iloc[0]), ci=None, n_users=int(counted.sum()))
    if "rated" in per_user.columns:
        summary.update(_rating_summary(per_user, n_bootstrap, seed))
    return summary


def _rating_summary(per_user: pd.DataFrame, n_bootstrap: int, seed: int) -> dict[str, MetricSummary]:
    """RMSE and MAE pooled over rated rows, with intervals from resampling users (ratio bootstrap)."""
    rated_users = per_user.loc[per_user["rated"] > 0, list(RATING_SUMS)].to_numpy(np.float64)
    if not len(rated_users):
        return {}
    squared, absolute, rows = rated_users.sum(axis=0)
    out = {"rmse": MetricSummary(mean=float(np.sqrt(squared / rows)), n_users=len(rated_users)),
           "mae": MetricSummary(mean=float(absolute / rows), n_users=len(rated_users))}
    if n_bootstrap:
        replicates = bootstrap_means(rated_users, n_bootstrap, seed)
        for name, values in (("rmse", np.sqrt(replicates[:, 0] / replicates[:, 2])),
                             ("mae", replicates[:, 1] / replicates[:, 2])):
            out[name].ci = (float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975)))
    return out


def evaluate(model: Recommender, train_data: TrainData, slices: Sequence[EvalSlice], ks: Sequence[int] = DEFAULT_KS,
             *, seed: int = 0, n_bootstrap: int = DEFAULT_BOOTSTRAP, beyond: bool = True,
             recommendations: bool = False) -> Evaluation:
    """Score `model` on each slice with full ranking over its candidates and compute every metric per user.

    `ks`: cut-offs for metrics at K; `n_bootstrap`: replicates of the confidence intervals (0 = none);
    `beyond`: also coverage, popularity, novelty and diversity; `recommendations`: keep the top max(K) lists.
    """
    ks = tuple(sorted({int(k) for k in ks}))
    if not ks or ks[0] < 1:
        raise ValueError(f"cut-offs {list(ks)} must be positive whole numbers such as 10,20,50")
    result = Evaluation(slices={}, per_user=pd.DataFrame())
    frames = []
    for evaluation_slice in slices:
        reason = reason_not_served(type(model), train_data, evaluation_slice)
        if reason is not None:
            result.slices[evaluation_slice.name] = NotApplicable(not_applicable=reason)
            continue
        gathered = _evaluate_slice(model, train_data, evaluation_slice, ks, seed, beyond, recommendations)
        per_user = gathered.frame()
        result.slices[evaluation_slice.name] = _summarise(per_user, ks, n_bootstrap, seed)
        result.excluded_users[evaluation_slice.name] = int(per_user[f"recall@{ks[0]}"].isna().sum())
        frames.append(per_user.drop(columns=[c for c in per_user.columns if c.startswith("coverage@")])
                      .assign(slice=evaluation_slice.name))
        if recommendations:
            result.recommendations[evaluation_slice.name] = pd.concat(gathered.recommendations, ignore_index=True)
    if frames:
        per_user = pd.concat(frames, ignore_index=True)
        result.per_user = per_user[["slice", *[c for c in per_user.columns if c != "slice"]]]
    return result


class SliceValidator:
    """Early-stopping and tuning signal: a metric on the split's validation slice that matches the protocol.

    The protocol's primary validation slice comes first in `split.valid`; a model that cannot serve it (a warm-only
    model on a cold-item split) is validated on the first validation slice it can serve. Never the test part.
    """

    def __init__(self, train_data: TrainData, split: Split, metric: str = VALIDATION_METRIC, seed: int = 0) -> None:
        name, cut = split_metric_name(metric)
        if name not in AT_K_METRICS or cut is None:
            raise ValueError(f"validation metric {metric!r} must look like ndcg@20, recall@10, map@50 ...")
        self.metric_name = metric
        self.k = cut
        self.train_data = train_data
        self.split = split
        self.seed = seed

    def slice_for(self, model: Recommender) -> EvalSlice | None:
        """The validation slice used for this model, or None when it can serve none of them."""
        return next((s for s in self.split.valid if reason_not_served(type(model), self.train_data, s) is None), None)

    def __call__(self, model: Recommender) -> float:
        chosen = self.slice_for(model)
        if chosen is None:
            return float("nan")
        result = evaluate(model, self.train_data, [chosen], (self.k,), seed=self.seed, n_bootstrap=0, beyond=False)
        mean = result.metric(chosen.name, self.metric_name).mean
        return float("nan") if mean is None else mean

    def terms(self, model: Recommender) -> ValidationTerms:
        """The validation score taken apart by user and by held-out item, for comparing two settings or models
        with a standard error that counts both (`engine.metrics.statistics.paired_gain`)."""
        chosen = self.slice_for(model)
        if chosen is None:
            return ValidationTerms(pd.Series(dtype=float), None)
        result = evaluate(model, self.train_data, [chosen], (self.k,), seed=self.seed, n_bootstrap=0, beyond=False,
                          recommendations=True)
        rows = result.per_user.loc[result.per_user["slice"] == chosen.name]
        per_user = pd.Series(rows[self.metric_name].to_numpy(float), index=rows["user_id"].to_numpy())
        return ValidationTerms(per_user, self._item_shares(per_user, result.recommendations[chosen.name],
                                                           chosen.truth))

    def _item_shares(self, per_user: pd.Series, listed: pd.DataFrame, truth: pd.DataFrame) -> pd.Series | None:
        """Each held-out item's share of the mean metric: a hit's weight in its user's list (its rank's discount
        for NDCG, 1 for recall and precision) times the user's value per unit of weight, summed over the users and
        divided by their number. Items no list found count with 0: they are drawn from the catalogue too."""
        name = split_metric_name(self.metric_name)[0]
        if name not in ("ndcg", "recall", "precision"):
            return None
        counted = per_user.dropna()
        positives = truth.loc[truth["user_id"].isin(counted.index), ["user_id", "item_id"]].drop_duplicates()
        hits = listed.loc[listed["rank"] <= self.k].merge(positives, on=["user_id", "item_id"])
        weight = 1.0 / np.log2(hits["rank"].to_numpy(float) + 1.0) if name == "ndcg" else np.ones(len(hits))
        per_weight = counted.loc[hits["user_id"]].to_numpy() / pd.Series(weight).groupby(
            hits["user_id"].to_numpy()).transform("sum").to_numpy()
        shares = pd.Series(weight * per_weight, index=hits["item_id"].to_numpy()).groupby(level=0).sum()
        every_item = pd.Index(positives["item_id"].unique())
        return shares.reindex(every_item, fill_value=0.0) / max(len(counted), 1)


def make_validator(train_data: TrainData, split: Split, metric: str = VALIDATION_METRIC,
                   seed: int = 0) -> SliceValidator:
    """A `Validator` (engine.core.model) on the protocol's validation slice, for early stopping and tuning."""
    return SliceValidator(train_data, split, metric, seed)
