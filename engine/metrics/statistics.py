"""Uncertainty and comparisons from per-user metric values: bootstrap intervals, paired tests, seeds, groups.

Per-user values are the unit of resampling: a run's mean has a bootstrap interval over its users, and two runs on
the same split are compared user by user (paired), which is far more sensitive than comparing two intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_BOOTSTRAP = 1000
HISTORY_BUCKETS = ("0", "1", "2-5", "6-20", ">20")


def bootstrap_means(values: np.ndarray, n_bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                    batch: int = 100) -> np.ndarray:
    """Bootstrap replicates of the column means of `values` (users x metrics; NaN = user not counted).

    Each replicate draws users with replacement, counted per user, so all metrics share the same resamples and one
    matrix product gives every mean; replicates are drawn in batches to bound memory.
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64).T).T
    n_users = values.shape[0]
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    present = present.astype(np.float64)
    rng = np.random.default_rng(seed)
    out = np.empty((n_bootstrap, values.shape[1]))
    for start in range(0, n_bootstrap, batch):
        size = min(batch, n_bootstrap - start)
        drawn = rng.integers(0, n_users, size=(size, n_users), dtype=np.int64) + (np.arange(size) * n_users)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=size * n_users).reshape(size, n_users).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + size] = (counts @ filled) / (counts @ present)
    return out


def bootstrap_ci(values: np.ndarray, n_bootstrap: int = DEFAULT_BOOTSTRAP, level: float = 0.95,
                 seed: int = 0) -> np.ndarray:
    """Percentile bootstrap intervals of the mean, one (low, high) row per column of `values`."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64).T).T
    if values.shape[0] == 0:
        return np.full((values.shape[1], 2), np.nan)
    replicates = bootstrap_means(values, n_bootstrap, seed)
    tail = (1.0 - level) / 2.0
    return np.nanquantile(replicates, [tail, 1.0 - tail], axis=0).T


@dataclass(frozen=True)
class PairedComparison:
    """Run A minus run B on the users both evaluated: mean difference, its bootstrap interval, a paired test."""

    mean_difference: float
    ci: tuple[float, float]
    p_value: float
    n_users: int
    test: str


def paired_comparison(a: pd.Series, b: pd.Series, n_bootstrap: int = DEFAULT_BOOTSTRAP, level: float = 0.95,
                      seed: int = 0) -> PairedComparison:
    """Compare two runs' per-user values (indexed by user id) with a paired bootstrap CI and Wilcoxon's
    signed-rank test; users missing or NaN in either run are left out."""
    joined = pd.concat({"a": a, "b": b}, axis=1, join="inner").dropna()
    if joined.empty:
        raise ValueError("the two runs share no evaluated user; compare runs made on the same split")
    difference = (joined["a"] - joined["b"]).to_numpy(np.float64)
    low, high = bootstrap_ci(difference[:, None], n_bootstrap, level, seed)[0]
    if np.allclose(difference, 0):
        p_value = 1.0
    else:
        from scipy import stats  # here, not at the top: 0.7-2 s of import a Compare page's first draw never needs

        p_value = float(stats.wilcoxon(difference, zero_method="zsplit").pvalue)
    return PairedComparison(float(difference.mean()), (float(low), float(high)), p_value, len(difference),
                            "Wilcoxon signed-rank")


@dataclass(frozen=True)
class ValidationTerms:
    """One model's validation score taken apart two ways: each user's metric value (indexed by user id), and each
    held-out item's share of the mean (indexed by item id, summing to the mean over users; None for a metric that
    does not split by item, such as MAP or MRR)."""

    per_user: pd.Series
    per_item: pd.Series | None

    @property
    def score(self) -> float:
        """The validation score: the mean over users."""
        values = self.per_user.dropna()
        return float(values.mean()) if len(values) else math.nan


def pooled_terms(parts: dict[str, ValidationTerms]) -> ValidationTerms:
    """Terms of several validation slices as one, each user counted once: ids are prefixed by their slice's name
    (a user may be in two slices), and item shares are rescaled so they still sum to the pooled mean."""
    counts = {name: int(terms.per_user.notna().sum()) for name, terms in parts.items()}
    total = max(sum(counts.values()), 1)
    per_user = pd.concat([terms.per_user.set_axis([f"{name}|{user}" for user in terms.per_user.index])
                          for name, terms in parts.items()]) if parts else pd.Series(dtype=float)
    per_item = None
    if parts and all(terms.per_item is not None for terms in parts.values()):
        per_item = pd.concat([terms.per_item.set_axis([f"{name}|{item}" for item in terms.per_item.index])
                              * (counts[name] / total) for name, terms in parts.items()])
    return ValidationTerms(per_user, per_item)


@dataclass(frozen=True)
class PairedGain:
    """Model A minus model B on one validation slice, with a standard error that counts users and items as
    samples."""

    gain: float
    standard_error: float
    n_users: int
    n_items: int


def paired_gain(a: ValidationTerms, b: ValidationTerms) -> PairedGain:
    """A's score minus B's with a two-way standard error: the paired per-user variance plus the variance over
    held-out items (Cameron, Gelbach and Miller 2011, without subtracting the user-item term, so it errs large).

    Users alone understate the noise where a few items carry the slice: on a new-items slice of 150 items every
    user ranks the same few items, and a setting that happens to suit two of them lifts hundreds of users at once.
    """
    users = pd.concat({"a": a.per_user, "b": b.per_user}, axis=1, join="inner").dropna()
    difference = (users["a"] - users["b"]).to_numpy(np.float64)
    n_users = len(difference)
    user_variance = float(difference.var(ddof=1)) / n_users if n_users > 1 else math.inf
    n_items, item_variance = 0, 0.0
    if a.per_item is not None and b.per_item is not None:
        shares = pd.concat({"a": a.per_item, "b": b.per_item}, axis=1).fillna(0.0)
        item_difference = (shares["a"] - shares["b"]).to_numpy(np.float64)
        n_items = len(item_difference)
        # the gain is a sum over items: n items drawn at random give it n times one item's variance
        item_variance = n_items * float(item_difference.var(ddof=1)) if n_items > 1 else 0.0
    gain = float(difference.mean()) if n_users else math.nan
    return PairedGain(gain, math.sqrt(user_variance + item_variance), n_users, n_items)


def seed_summary(means: pd.Series) -> dict[str, float]:
    """Mean and sample standard deviation of one metric over runs that differ only by seed."""
    values = means.dropna().to_numpy(np.float64)
    std = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
    return {"mean": float(values.mean()) if len(values) else float("nan"), "std": std, "n_seeds": int(len(values))}


def history_bucket(n_training: np.ndarray | pd.Series) -> pd.Series:
    """The history-length bucket of each user: 0, 1, 2-5, 6-20 or >20 training interactions."""
    values = pd.Series(np.asarray(n_training, dtype=np.int64))
    bins = [-1, 0, 1, 5, 20, np.inf]
    return pd.cut(values, bins=bins, labels=list(HISTORY_BUCKETS)).astype(str)


def group_summary(per_user: pd.DataFrame, metric: str, by: pd.Series, n_bootstrap: int = DEFAULT_BOOTSTRAP,
                  seed: int = 0) -> pd.DataFrame:
    """Mean, bootstrap interval and user count of `metric` per group (`by`, aligned with `per_user`'s rows)."""
    records = []
    for group, rows in per_user.groupby(by.to_numpy(), sort=True):
        values = rows[metric].to_numpy(np.float64)
        counted = values[~np.isnan(values)]
        low, high = bootstrap_ci(counted[:, None], n_bootstrap, seed=seed)[0] if len(counted) else (np.nan, np.nan)
        records.append({"group": group, "mean": float(counted.mean()) if len(counted) else np.nan,
                        "ci_low": low, "ci_high": high, "n_users": int(len(counted))})
    return pd.DataFrame.from_records(records, columns=["group", "mean", "ci_low", "ci_high", "n_users"])
