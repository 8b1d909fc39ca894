"""Who is served well and what gets shown: quality gaps between user groups, and the exposure of items.

User side (a product owner's question "is some group served worse?"): per value of a user attribute, the mean of a
per-user metric with its bootstrap interval; the gap between the best- and worst-served groups with its bootstrap
interval (users resampled within each group independently); and each group's gap to the rest of the users. A group
is flagged when the rest are served better beyond its interval, so a flag means "worse than everybody else, more
than the sample's noise explains". Groups with fewer than `min_users` users are reported but never best, worst or
flagged.

Item side (on the top-K lists of a run, each list a user's K slots):
- new-item share: share of slots given to items new to training (cold items never shown never get data), beside
  their share of the catalogue;
- Gini of exposure: inequality of slot counts over the catalogue (0 = every item shown equally, near 1 = a few
  items take every slot); G = 2 sum_i i x_(i) / (n sum x) - (n + 1) / n with x sorted ascending, i = 1..n;
- long-tail share: slots given to items outside the short head, the 20% most popular catalogue items by training
  popularity (Abdollahpouri et al., RecSys 2017), beside the tail's share of the catalogue;
- popularity of recommended items (share of training users who had the item, averaged over slots) against the
  same average over the catalogue, and their ratio (the popularity lift);
- exposure per value of an item attribute (provider, category; a multi-valued item spreads its slot evenly
  over its values) against the value's share of the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.data.cell_values import multi_value_rows
from engine.metrics.statistics import DEFAULT_BOOTSTRAP, bootstrap_ci, bootstrap_means

SHORT_HEAD_SHARE = 0.2
MIN_GROUP_USERS = 5
GAP_COLUMNS = ("group", "mean", "ci_low", "ci_high", "n_users", "gap_to_rest", "gap_ci_low", "gap_ci_high",
               "flagged")


@dataclass(frozen=True)
class GroupGaps:
    """`table`: one row per group (columns `GAP_COLUMNS`, best-served first); `best` / `worst`: the best- and
    worst-served groups among those large enough; `gap` and `gap_ci`: best minus worst with its interval, and
    `gap_significant` when that interval excludes zero; `flagged`: the groups served worse than the rest of the
    users beyond their (Bonferroni-adjusted) interval."""

    table: pd.DataFrame
    best: str | None
    worst: str | None
    gap: float
    gap_ci: tuple[float, float]
    gap_significant: bool
    flagged: list[str]


def _difference_ci(first: np.ndarray, second: np.ndarray, level: float, n_bootstrap: int,
                   seed: int) -> tuple[float, float]:
    """Percentile interval of mean(first) - mean(second), each sample resampled on its own stream."""
    a = bootstrap_means(first[:, None], n_bootstrap, seed=seed)[:, 0]
    b = bootstrap_means(second[:, None], n_bootstrap, seed=seed + 7919)[:, 0]
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(a - b, [tail, 1.0 - tail])
    return float(low), float(high)


def group_gaps(values: pd.Series, groups: pd.Series, n_bootstrap: int = DEFAULT_BOOTSTRAP, level: float = 0.95,
               seed: int = 0, min_users: int = MIN_GROUP_USERS) -> GroupGaps:
    """Quality per group, each group's gap to the rest of the users, and the best-to-worst gap, from per-user
    `values` (indexed by user id; NaN = user not counted) and `groups` (user id -> group label; users without a
    label are left out).

    A group is flagged when the rest of the users are served better than it with an interval at level
    1 - (1 - `level`) / (groups judged) that excludes zero (Bonferroni: with many groups, one would otherwise look
    worse by chance). Comparing with the rest rather than with the best group avoids the winner's curse: the best
    group is best partly by luck, so gaps to it are biased upwards."""
    joined = pd.concat({"value": values, "group": groups}, axis=1, join="inner").dropna()
    if joined.empty:
        raise ValueError("no user has both a metric value and a group; check that the attribute covers the "
                         "evaluated users")
    labels = joined["group"].astype(str).to_numpy()
    numbers = joined["value"].to_numpy(np.float64)
    names = sorted(set(labels))
    sizes = {g: int((labels == g).sum()) for g in names}
    judged = [g for g in names if sizes[g] >= min_users]
    adjusted = 1.0 - (1.0 - level) / max(len(judged), 1)
    records = []
    for position, group in enumerate(names):
        mine = numbers[labels == group]
        low, high = bootstrap_ci(mine[:, None], n_bootstrap, level, seed=seed)[0]
        record = {"group": group, "mean": float(mine.mean()), "ci_low": float(low), "ci_high": float(high),
                  "n_users": len(mine), "gap_to_rest": np.nan, "gap_ci_low": np.nan, "gap_ci_high": np.nan,
                  "flagged": False}
        rest = numbers[labels != group]
        if group in judged and len(rest):
            gap_low, gap_high = _difference_ci(rest, mine, adjusted, n_bootstrap, seed + 1 + position)
            record |= {"gap_to_rest": float(rest.mean() - mine.mean()), "gap_ci_low": gap_low,
                       "gap_ci_high": gap_high, "flagged": bool(gap_low > 0)}
        records.append(record)
    table = pd.DataFrame.from_records(records, columns=list(GAP_COLUMNS))
    table = table.sort_values("mean", ascending=False, kind="stable").reset_index(drop=True)
    large = table.loc[table["group"].isin(judged)]
    if large.empty:
        return GroupGaps(table, None, None, float("nan"), (float("nan"), float("nan")), False, [])
    best, worst = str(large["group"].iloc[0]), str(large["group"].iloc[-1])
    gap_ci = _difference_ci(numbers[labels == best], numbers[labels == worst], level, n_bootstrap, seed)
    gap = float(large["mean"].iloc[0] - large["mean"].iloc[-1])
    flagged = table.loc[table["flagged"], "group"].tolist()
    return GroupGaps(table, best, worst, gap, gap_ci, bool(gap_ci[0] > 0), flagged)


def top_k_slots(recommendations: pd.DataFrame, k: int) -> pd.DataFrame:
    """The slots of the top-K lists: rows of `recommendations` (`user_id`, `item_id`, `rank` from 1) with rank <= k."""
    missing = {"user_id", "item_id", "rank"} - set(recommendations.columns)
    if missing:
        raise ValueError(f"recommendation lists lack column(s) {', '.join(sorted(missing))}")
    slots = recommendations.loc[recommendations["rank"] <= k, ["user_id", "item_id"]]
    return slots.astype(str)


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (0 when all are equal or all zero)."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return 0.0
    return float(2.0 * np.sum(np.arange(1, n + 1) * x) / (n * total) - (n + 1.0) / n)


def short_head(popularity: pd.Series, share: float = SHORT_HEAD_SHARE) -> set[str]:
    """The `share` most popular catalogue items (at least one), ties broken by item id."""
    ordered = popularity.rename("count").rename_axis("item_id").reset_index()
    ordered = ordered.sort_values(["count", "item_id"], ascending=[False, True], kind="stable")
    return set(ordered["item_id"].astype(str).head(max(1, int(round(share * len(ordered))))))


@dataclass(frozen=True)
class Exposure:
    """Item-side figures of one run's top-K lists (see the module docstring for each definition)."""

    k: int
    n_slots: int
    new_item_share: float
    new_item_catalogue_share: float
    gini: float
    long_tail_share: float
    long_tail_catalogue_share: float
    recommended_popularity: float
    catalogue_popularity: float

    @property
    def popularity_lift(self) -> float:
        """How many times more popular the recommended items are than the catalogue's average item."""
        return self.recommended_popularity / self.catalogue_popularity if self.catalogue_popularity else float("nan")


def exposure(recommendations: pd.DataFrame, k: int, popularity: pd.Series, n_train_users: int) -> Exposure:
    """Exposure figures of the top-`k` lists over the catalogue `popularity` (item id -> training users who had
    it; 0 marks an item new to training). Slots naming items outside the catalogue are an error."""
    catalogue = popularity.copy()
    catalogue.index = catalogue.index.astype(str)
    slots = top_k_slots(recommendations, k)
    if slots.empty:
        raise ValueError(f"no recommendation at rank 1..{k}; the run kept no top-K list")
    outside = set(slots["item_id"]) - set(catalogue.index)
    if outside:
        raise ValueError(f"{len(outside)} recommended item(s) are not in the catalogue, e.g. {sorted(outside)[0]!r}")
    shown = slots["item_id"].value_counts().reindex(catalogue.index, fill_value=0)
    new = catalogue == 0
    tail = ~catalogue.index.isin(short_head(catalogue))
    share = catalogue / max(n_train_users, 1)
    n_slots = len(slots)
    return Exposure(
        k=k, n_slots=n_slots,
        new_item_share=float(shown[new].sum() / n_slots), new_item_catalogue_share=float(new.mean()),
        gini=gini(shown.to_numpy()),
        long_tail_share=float(shown[tail].sum() / n_slots), long_tail_catalogue_share=float(tail.mean()),
        recommended_popularity=float((shown * share).sum() / n_slots), catalogue_popularity=float(share.mean()))


def _value_weights(values: pd.Series) -> pd.DataFrame:
    """(item_id, value, weight): each item's attribute values, a multi-valued item's weight split evenly."""
    present = values.dropna()
    parts = multi_value_rows(present)
    frame = pd.DataFrame({"item_id": present.index.astype(str)[parts["row"].to_numpy()],
                          "value": parts["value"].to_numpy()})
    frame["weight"] = 1.0 / frame.groupby("item_id")["value"].transform("size")
    return frame


def exposure_by_attribute(recommendations: pd.DataFrame, k: int, attribute: pd.Series) -> pd.DataFrame:
    """Per value of an item attribute (`attribute`: item id -> value, `a|b` for several): its share of the top-K
    slots and of the catalogue, and their ratio (1 = shown in proportion to its size). Items without a value count
    as 'unknown'."""
    values = attribute.copy()
    values.index = values.index.astype(str)
    values = values.astype(object).where(values.notna(), "unknown")
    weights = _value_weights(values)
    slots = top_k_slots(recommendations, k)
    shown = slots.merge(weights, on="item_id", how="inner").groupby("value")["weight"].sum()
    catalogue = weights.groupby("value")["weight"].sum()
    table = pd.DataFrame({"exposure_share": shown.reindex(catalogue.index, fill_value=0.0) / max(len(slots), 1),
                          "catalogue_share": catalogue / len(values)})
    table["ratio"] = table["exposure_share"] / table["catalogue_share"]
    return (table.rename_axis("value").reset_index()
            .sort_values("exposure_share", ascending=False, kind="stable").reset_index(drop=True))
