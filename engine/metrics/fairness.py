"""Who is served well and what gets shown: quality gaps between user groups, and the exposure of items.

User side (a product owner's question "is some group served worse?"): per value of a user attribute, the mean of a
per-user metric with its bootstrap interval, and each group's gap to the best-served group with a bootstrap
interval from resampling users within each group independently. A group is flagged when that interval lies wholly
above zero, so a flag means "worse than the best group beyond what the sample's noise explains". Groups with fewer
than `min_users` users are reported but never best, worst or flagged.

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

from engine.data.dataset import MULTI_VALUE_SEPARATOR
from engine.metrics.statistics import DEFAULT_BOOTSTRAP, bootstrap_ci, bootstrap_means

SHORT_HEAD_SHARE = 0.2
MIN_GROUP_USERS = 5
GAP_COLUMNS = ("group", "mean", "ci_low", "ci_high", "n_users", "gap_to_best", "gap_ci_low", "gap_ci_high",
               "flagged")


@dataclass(frozen=True)
class GroupGaps:
    """`table`: one row per group (columns `GAP_COLUMNS`, best-served first); `best` / `worst`: the best- and
    worst-served groups among those large enough; `gap` and `gap_ci`: best minus worst with its interval;
    `flagged`: the groups served worse than the best beyond the interval."""

    table: pd.DataFrame
    best: str | None
    worst: str | None
    gap: float
    gap_ci: tuple[float, float]
    flagged: list[str]


def group_gaps(values: pd.Series, groups: pd.Series, n_bootstrap: int = DEFAULT_BOOTSTRAP, level: float = 0.95,
               seed: int = 0, min_users: int = MIN_GROUP_USERS) -> GroupGaps:
    """Quality per group and each group's gap to the best-served one, from per-user `values` (indexed by user id;
    NaN = user not counted) and `groups` (user id -> group label; users without a label are left out)."""
    joined = pd.concat({"value": values, "group": groups}, axis=1, join="inner").dropna()
    if joined.empty:
        raise ValueError("no user has both a metric value and a group; check that the attribute covers the "
                         "evaluated users")
    tail = (1.0 - level) / 2.0
    records, replicates = [], {}
    for position, (group, rows) in enumerate(joined.groupby(joined["group"].astype(str), sort=True)):
        counted = rows["value"].to_numpy(np.float64)
        low, high = bootstrap_ci(counted[:, None], n_bootstrap, level, seed=seed)[0]
        # each group resampled on its own stream: the groups are independent samples of users
        replicates[group] = bootstrap_means(counted[:, None], n_bootstrap, seed=seed + 1 + position)[:, 0]
        records.append({"group": group, "mean": float(counted.mean()), "ci_low": float(low), "ci_high": float(high),
                        "n_users": len(counted)})
    table = pd.DataFrame.from_records(records)
    large = table.loc[table["n_users"] >= min_users]
    best = str(large.loc[large["mean"].idxmax(), "group"]) if not large.empty else None
    worst = str(large.loc[large["mean"].idxmin(), "group"]) if not large.empty else None
    gaps = []
    for row in table.itertuples():
        if best is None or row.n_users < min_users:
            gaps.append((np.nan, np.nan, np.nan, False))
            continue
        difference = replicates[best] - replicates[row.group]
        low, high = np.quantile(difference, [tail, 1.0 - tail])
        gap = float(table.loc[table["group"] == best, "mean"].iloc[0] - row.mean)
        gaps.append((gap, float(low), float(high), bool(low > 0)))
    table[["gap_to_best", "gap_ci_low", "gap_ci_high", "flagged"]] = pd.DataFrame(gaps, index=table.index)
    table["flagged"] = table["flagged"].astype(bool)
    table = table.sort_values("mean", ascending=False, kind="stable").reset_index(drop=True)[list(GAP_COLUMNS)]
    if worst is None:
        return GroupGaps(table, None, None, float("nan"), (float("nan"), float("nan")), [])
    worst_row = table.loc[table["group"] == worst].iloc[0]
    return GroupGaps(table, best, worst, float(worst_row["gap_to_best"]),
                     (float(worst_row["gap_ci_low"]), float(worst_row["gap_ci_high"])),
                     table.loc[table["flagged"], "group"].tolist())


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
    text = values.dropna().astype(str)
    parts = text.str.split(MULTI_VALUE_SEPARATOR, regex=False).explode().str.strip()
    parts = parts.loc[parts != ""]
    frame = pd.DataFrame({"item_id": parts.index.astype(str), "value": parts.to_numpy()})
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
