"""A seeded synthetic shop whose users and items have attributes that really drive who likes what.

Generative model (every draw comes from one `numpy.random.Generator(seed)`, so a seed gives the same data):

Users have an age group (4 groups; `age` is drawn inside the group's range), an `occupation` (8 values) and a
`region` (5 values, pure noise: it carries no signal, like many real attributes).
Items have a `category` (10 values), 1-3 `tags` (multi-valued `a|b`, drawn mostly from three tags typical of the
category), a `price` (log-normal around a category-specific level) and a short `title` built from words typical
of the category and its first tag.

1. A user's taste over categories is `softmax(O[occupation] + A[age group] + 0.5 * noise)`: users who share
   attributes share tastes, so a model can guess a new user's taste from attributes.
2. An item's appeal to an age group is `tags . T[age group] + P[age group] * price_z + quality` (younger groups
   dislike high prices, each group has favourite tags), so a new item's appeal follows from its attributes.
3. Popularity has a long tail: item weights follow a Zipf law (exponent 0.9) over a random order of the items;
   user activity is log-normal (sigma 1.1), so a few users are very active and many have few interactions.
4. Each interaction picks a user by activity, a category by the user's taste, and an item of that category with
   probability proportional to `popularity * exp(appeal)`. Repeated (user, item) draws are dropped.
5. The rating is `round(3.6 + 0.8 * z + 0.6 * noise)` clipped to 1..5, where z is taste + appeal standardised over
   the drawn pairs, so ratings also reflect the attribute match; positives are ratings >= 4. With
   `feedback="counts"` the same z and noise give play counts instead, `ceil(exp(1.5 + 1.2 * z + 1.3 * noise))`
   (1 to thousands, a heavy tail, no fixed top), read as implicit feedback weighted by log(1 + count).
6. Timestamps: users join and items are released at uniform times over `years` years from 2021-01-01; each
   interaction happens uniformly between the later of the two and the end, so new items and users appear over time.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from engine.data.dataset import Dataset, Feedback

CATEGORIES = ("books", "games", "music", "sports", "outdoor", "kitchen", "garden", "fashion", "tech", "toys")
TAGS = ("eco", "premium", "budget", "kids", "classic", "new", "handmade", "bestseller", "gift", "pro",
        "compact", "vintage")
OCCUPATIONS = ("student", "engineer", "artist", "teacher", "retired", "health", "sales", "homemaker")
REGIONS = ("north", "south", "east", "west", "centre")
AGE_GROUPS = ((18, 25), (25, 35), (35, 50), (50, 75))
_AGE_GROUP_SHARE = np.array([0.25, 0.35, 0.25, 0.15])
_CATEGORY_WORDS = {
    "books": ("novel", "story", "guide", "tales"), "games": ("quest", "puzzle", "arena", "legends"),
    "music": ("album", "songs", "vinyl", "beats"), "sports": ("ball", "racket", "trainer", "jersey"),
    "outdoor": ("tent", "trail", "lantern", "backpack"), "kitchen": ("pan", "knife", "blender", "kettle"),
    "garden": ("planter", "seeds", "hose", "shears"), "fashion": ("jacket", "scarf", "boots", "dress"),
    "tech": ("headphones", "charger", "tablet", "speaker"), "toys": ("blocks", "robot", "plush", "puzzle"),
}
_ADJECTIVES = ("bright", "little", "grand", "classic", "smart", "wild", "urban", "golden", "silent", "happy")
_START = int(pd.Timestamp("2021-01-01", tz="UTC").timestamp())
_YEAR = 365 * 86_400


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _users(rng: np.random.Generator, n_users: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    age_group = rng.choice(len(AGE_GROUPS), size=n_users, p=_AGE_GROUP_SHARE)
    low = np.array([g[0] for g in AGE_GROUPS])[age_group]
    high = np.array([g[1] for g in AGE_GROUPS])[age_group]
    age = rng.integers(low, high)
    occupation = rng.choice(len(OCCUPATIONS), size=n_users, p=rng.dirichlet(np.full(len(OCCUPATIONS), 4.0)))
    region = rng.integers(0, len(REGIONS), size=n_users)
    table = pd.DataFrame({
        "user_id": [f"u{k}" for k in range(1, n_users + 1)],
        "age": age.astype("float64"),
        "occupation": np.asarray(OCCUPATIONS, dtype=object)[occupation],
        "region": np.asarray(REGIONS, dtype=object)[region],
    }).astype({"user_id": "str", "occupation": "str", "region": "str"})
    return table, age_group, occupation


def _items(rng: np.random.Generator, n_items: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    n_cat, n_tags = len(CATEGORIES), len(TAGS)
    # The first items cover every category once so that tiny catalogues still have all of them when possible.
    category = np.concatenate([np.arange(min(n_items, n_cat)),
                               rng.choice(n_cat, size=max(n_items - n_cat, 0), p=rng.dirichlet(np.full(n_cat, 3.0)))])
    typical = np.stack([rng.choice(n_tags, size=3, replace=False) for _ in range(n_cat)])
    n_item_tags = rng.integers(1, 4, size=n_items)
    tag_matrix = np.zeros((n_items, n_tags))
    for slot in range(3):
        has = n_item_tags > slot
        from_category = rng.random(n_items) < 0.75
        pick = np.where(from_category, typical[category, rng.integers(0, 3, size=n_items)],
                        rng.integers(0, n_tags, size=n_items))
        tag_matrix[np.flatnonzero(has), pick[has]] = 1.0
    price_level = rng.normal(3.0, 0.6, size=n_cat)
    log_price = price_level[category] + rng.normal(0.0, 0.5, size=n_items)
    price = np.round(np.exp(log_price), 2)
    tag_names = np.asarray(TAGS, dtype=object)
    tags = ["|".join(tag_names[np.flatnonzero(row)]) for row in tag_matrix]
    word_pick = rng.integers(0, 4, size=n_items)
    adjective = rng.integers(0, len(_ADJECTIVES), size=n_items)
    first_tag = tag_matrix.argmax(axis=1)
    titles = [f"{_ADJECTIVES[a].title()} {TAGS[t]} {_CATEGORY_WORDS[CATEGORIES[c]][w]}"
              for a, t, c, w in zip(adjective, first_tag, category, word_pick)]
    table = pd.DataFrame({
        "item_id": [f"i{k}" for k in range(1, n_items + 1)],
        "category": np.asarray(CATEGORIES, dtype=object)[category],
        "tags": tags,
        "price": price,
        "title": titles,
    }).astype({"item_id": "str", "category": "str", "tags": "str", "title": "str"})
    price_z = (log_price - log_price.mean()) / (log_price.std() or 1.0)
    tag_share = tag_matrix / tag_matrix.sum(axis=1, keepdims=True)
    return table, category, tag_share, price_z


def _items_within_category(rng: np.random.Generator, user_of: np.ndarray, category_of: np.ndarray,
                           age_group: np.ndarray, category: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """For each draw, an item of its category chosen with probability proportional to `weight[item, age group]`."""
    n_cat = len(CATEGORIES)
    cell = (age_group[user_of] * n_cat + category_of).astype(np.int16)  # small ints: stable argsort is a radix sort
    order = np.argsort(cell, kind="stable")
    bounds = np.searchsorted(cell[order], np.arange(len(AGE_GROUPS) * n_cat + 1))
    uniform = rng.random(len(user_of))
    item_of = np.empty(len(user_of), dtype=np.int64)
    for group in range(len(AGE_GROUPS)):
        for cat in np.unique(category):
            rows = order[bounds[group * n_cat + cat]:bounds[group * n_cat + cat + 1]]
            members = np.flatnonzero(category == cat)
            member_cdf = np.cumsum(weight[members, group])
            picks = np.searchsorted(member_cdf, uniform[rows] * member_cdf[-1], side="right")
            item_of[rows] = members[np.minimum(picks, len(members) - 1)]
    return item_of


def generate_synthetic(n_users: int = 1000, n_items: int = 500, n_interactions: int = 20_000,
                       seed: int = 0, *, years: float = 2.0,
                       feedback: Literal["ratings", "counts"] = "ratings") -> Dataset:
    """A synthetic dataset with attribute-driven tastes, long-tail popularity, timestamps over `years` years and
    1..5 ratings (or play counts, with `feedback="counts"`).

    Returns at most `n_interactions` distinct (user, item) rows (fewer only when the catalogue is too small to
    hold that many distinct pairs). Small sizes such as 50 users and 40 items suit fast model tests.
    """
    if n_users < 2 or n_items < 2 or n_interactions < 1:
        raise ValueError("generate_synthetic needs at least 2 users, 2 items and 1 interaction")
    if years <= 0:
        raise ValueError("generate_synthetic needs a time span of more than 0 years")
    span = years * _YEAR
    rng = np.random.default_rng(seed)
    users, age_group, occupation = _users(rng, n_users)
    items, category, tag_share, price_z = _items(rng, n_items)
    n_cat = len(CATEGORIES)

    occupation_taste = rng.normal(0.0, 1.5, size=(len(OCCUPATIONS), n_cat))
    age_taste = rng.normal(0.0, 1.0, size=(len(AGE_GROUPS), n_cat))
    taste = occupation_taste[occupation] + age_taste[age_group] + 0.5 * rng.normal(size=(n_users, n_cat))
    present = np.bincount(category, minlength=n_cat) > 0
    taste[:, ~present] = -np.inf  # never choose a category without items

    tag_taste = rng.normal(0.0, 1.2, size=(len(AGE_GROUPS), len(TAGS)))
    price_taste = np.linspace(-1.0, 0.6, len(AGE_GROUPS))  # the young avoid expensive items
    quality = rng.normal(0.0, 0.5, size=n_items)
    appeal = tag_share @ tag_taste.T + np.outer(price_z, price_taste) + quality[:, None]  # items x age groups
    popularity = np.empty(n_items)
    popularity[rng.permutation(n_items)] = 1.0 / np.arange(1, n_items + 1) ** 0.9

    activity = rng.lognormal(0.0, 1.1, size=n_users)
    target = min(n_interactions, n_users * n_items)
    category_share = _softmax(taste)
    weight = popularity[:, None] * np.exp(appeal)
    user_of = category_of = item_of = np.empty(0, dtype=np.int64)
    draws = 2 * target + 10
    for _ in range(12):  # top up with fresh draws until there are enough distinct pairs (or the catalogue is full)
        # Multinomial counts per user, then per (user, category), avoid a search per draw; shuffling afterwards
        # makes the kept draws a random subset when there are more than needed.
        per_user = rng.multinomial(draws, activity / activity.sum())
        per_cell = rng.multinomial(per_user, category_share).ravel()
        shuffle = rng.permutation(int(per_cell.sum()))
        new_users = np.repeat(np.repeat(np.arange(n_users), n_cat), per_cell)[shuffle]
        new_categories = np.repeat(np.tile(np.arange(n_cat), n_users), per_cell)[shuffle]
        new_items = _items_within_category(rng, new_users, new_categories, age_group, category, weight)
        user_of = np.concatenate([user_of, new_users])
        category_of = np.concatenate([category_of, new_categories])
        item_of = np.concatenate([item_of, new_items])
        fresh = np.flatnonzero(~pd.Series(user_of * n_items + item_of).duplicated().to_numpy())
        if len(fresh) >= target:
            break
        draws = max(4 * (target - len(fresh)), target // 4) + 10
    keep = fresh[:target]
    user_of, category_of, item_of = user_of[keep], category_of[keep], item_of[keep]

    # Ratings reflect how well the item matches the user's attributes, standardised over the drawn pairs so the
    # scale looks like real 1..5 data (mean about 3.6) whatever the sizes.
    match = taste[user_of, category_of] + appeal[item_of, age_group[user_of]]
    match = (match - match.mean()) / (match.std() or 1.0)
    noise = rng.normal(size=len(keep))
    if feedback == "counts":
        rating = np.ceil(np.exp(1.5 + 1.2 * match + 1.3 * noise))
        interpretation = Feedback(kind="implicit", count_weight="log")
    else:
        rating = np.clip(np.round(3.6 + 0.8 * match + 0.6 * noise), 1, 5)
        interpretation = Feedback(kind="explicit", positive_threshold=4.0)
    joined = rng.uniform(0, 0.8 * span, size=n_users)
    released = rng.uniform(0, 0.9 * span, size=n_items)
    earliest = np.maximum(joined[user_of], released[item_of])
    when = _START + earliest + rng.random(len(keep)) * (span - earliest)

    by_time = np.argsort(when, kind="stable")
    user_ids = users["user_id"].to_numpy(dtype=object)
    item_ids = items["item_id"].to_numpy(dtype=object)
    interactions = pd.DataFrame({
        "user_id": pd.Series(user_ids[user_of[by_time]], dtype="str"),
        "item_id": pd.Series(item_ids[item_of[by_time]], dtype="str"),
        "rating": rating[by_time].astype("float64"),
        "timestamp": when[by_time].astype("int64"),
    })
    return Dataset(
        interactions=interactions,
        items=items,
        users=users,
        item_kinds={"category": "categorical", "tags": "multi", "price": "numeric", "title": "text"},
        user_kinds={"age": "numeric", "occupation": "categorical", "region": "categorical"},
        feedback=interpretation,
        name=f"synthetic-{n_users}u-{n_items}i-seed{seed}",
    )
