"""Seeded data sets of the kinds users bring, unlike the synthetic shop, so defaults are not tuned to one shape.

Every kind shares one generative core (one `numpy.random.Generator(seed)`, so a seed gives the same data):
items belong to one latent topic each, users have a taste over topics, and an interaction picks a user by activity
(log-normal), a topic by the user's taste, and an item of that topic with probability proportional to its
popularity (Zipf over a random order) times its appeal to the user's group. What differs is what the data shows:
the topic is never a column, only the attributes it leaves behind (tags, genres, words), and the feedback.
A model that reads the attributes can tell which new items belong to a user's topics; popularity cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from engine.data.cell_values import weighted_notation
from engine.data.dataset import Dataset, Feedback
from engine.data.synthetic import generate_synthetic

KindName = Literal["shop", "tags", "tag-counts", "genres", "text", "counts"]
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_SYLLABLES = [c + v for c in _CONSONANTS for v in _VOWELS]
GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
          "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
OCCUPATIONS = ("student", "engineer", "artist", "educator", "retired", "healthcare", "programmer", "writer",
               "administrator", "technician", "librarian", "lawyer", "marketing", "homemaker", "other")
AGE_GROUPS = ((18, 25), (25, 35), (35, 50), (50, 70))


@dataclass(frozen=True)
class DataKind:
    """One kind of data a user brings: a label for the page, the real data set it imitates, and its generator."""

    name: KindName
    label: str
    imitates: str
    generate: Callable[[int, int, int, int], Dataset]


def _pseudo_words(count: int, offset: int = 0) -> np.ndarray:
    """`count` distinct pronounceable words ("bazo", "kemiru", ...), the same for the same index."""
    words = []
    for index in range(offset, offset + count):
        syllables, n = [], index + len(_SYLLABLES)  # at least two syllables
        while n:
            n, digit = divmod(n, len(_SYLLABLES))
            syllables.append(_SYLLABLES[digit])
        words.append("".join(reversed(syllables)))
    return np.asarray(words, dtype=object)


def _zipf(n: int, exponent: float) -> np.ndarray:
    """Zipf probabilities over `n` ranks."""
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def _pick_items(rng: np.random.Generator, group_of: np.ndarray, topic_of: np.ndarray, item_topic: np.ndarray,
                weight: np.ndarray) -> np.ndarray:
    """For each draw, an item of its topic chosen with probability proportional to `weight[item, group]`."""
    n_topics = int(item_topic.max()) + 1
    cell = group_of * n_topics + topic_of
    order = np.argsort(cell, kind="stable")
    bounds = np.searchsorted(cell[order], np.arange(weight.shape[1] * n_topics + 1))
    uniform = rng.random(len(topic_of))
    item_of = np.empty(len(topic_of), dtype=np.int64)
    for topic in np.unique(item_topic):
        members = np.flatnonzero(item_topic == topic)
        for group in range(weight.shape[1]):
            rows = order[bounds[group * n_topics + topic]:bounds[group * n_topics + topic + 1]]
            cdf = np.cumsum(weight[members, group])
            picks = np.searchsorted(cdf, uniform[rows] * cdf[-1], side="right")
            item_of[rows] = members[np.minimum(picks, len(members) - 1)]
    return item_of


def _draw_pairs(rng: np.random.Generator, taste: np.ndarray, item_topic: np.ndarray, weight: np.ndarray,
                user_group: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """`target` distinct (user, item) pairs (fewer only when the catalogue is full): user by activity, topic by
    the user's taste (rows of `taste` sum to one), item by `weight` within the topic."""
    n_users, n_topics = taste.shape
    n_items = len(item_topic)
    activity = rng.lognormal(0.0, 1.1, size=n_users)
    target = min(target, n_users * n_items)
    users = topics = items = np.empty(0, dtype=np.int64)
    draws = 2 * target + 10
    for _ in range(12):  # top up with fresh draws until there are enough distinct pairs
        per_user = rng.multinomial(draws, activity / activity.sum())
        per_cell = rng.multinomial(per_user, taste).ravel()
        shuffle = rng.permutation(int(per_cell.sum()))
        new_users = np.repeat(np.repeat(np.arange(n_users), n_topics), per_cell)[shuffle]
        new_topics = np.repeat(np.tile(np.arange(n_topics), n_users), per_cell)[shuffle]
        users = np.concatenate([users, new_users])
        topics = np.concatenate([topics, new_topics])
        items = np.concatenate([items, _pick_items(rng, user_group[new_users], new_topics, item_topic, weight)])
        fresh = np.flatnonzero(~pd.Series(users * n_items + items).duplicated().to_numpy())
        if len(fresh) >= target:
            break
        draws = max(4 * (target - len(fresh)), target // 4) + 10
    keep = fresh[:target]
    return users[keep], items[keep]


def _topics(rng: np.random.Generator, n_items: int, n_topics: int) -> np.ndarray:
    """Each item's topic; the first items cover every topic once so small catalogues have them all."""
    shares = rng.dirichlet(np.full(n_topics, 2.0))
    rest = rng.choice(n_topics, size=max(n_items - n_topics, 0), p=shares)
    return np.concatenate([np.arange(min(n_items, n_topics)), rest])


def _popularity(rng: np.random.Generator, n_items: int) -> np.ndarray:
    popularity = np.empty(n_items)
    popularity[rng.permutation(n_items)] = _zipf(n_items, 0.9)
    return popularity


def _live_taste(taste: np.ndarray, item_topic: np.ndarray) -> np.ndarray:
    """Tastes restricted to topics that have items, renormalised."""
    present = np.bincount(item_topic, minlength=taste.shape[1]) > 0
    taste = np.where(present[None, :], taste, 0.0)
    return taste / taste.sum(axis=1, keepdims=True)


def _ids(prefix: str, n: int) -> pd.Series:
    return pd.Series([f"{prefix}{k}" for k in range(1, n + 1)], dtype="str")


def _interactions(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int,
                  rating: np.ndarray | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"user_id": _ids("u", n_users).to_numpy()[users],
                          "item_id": _ids("i", n_items).to_numpy()[items]}).astype("str")
    if rating is not None:
        frame["rating"] = rating.astype("float64")
    return frame


def _standardised(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() or 1.0)


def _curated_tags(rng: np.random.Generator, item_topic: np.ndarray, n_topics: int) -> pd.DataFrame:
    """3-30 tags per item (`owner`, `tag`, `given` rows: how many of the item's draws gave the tag) from a
    vocabulary of about three words per item: 60% from the item's topic cluster (Zipf inside the cluster), 40% from
    the whole vocabulary (Zipf: "toread", "cool", and a long tail)."""
    n_items = len(item_topic)
    vocabulary = _pseudo_words(max(3 * n_items, 20 * n_topics))
    global_rank = rng.permutation(len(vocabulary))
    cluster_size = max(len(vocabulary) // (2 * n_topics), 5)
    clusters = rng.permutation(len(vocabulary))[:cluster_size * n_topics].reshape(n_topics, cluster_size)
    n_tags = np.clip(np.round(rng.lognormal(np.log(9.0), 0.6, size=n_items)), 3, 30).astype(int)
    drawn = 2 * n_tags + 3  # more draws than tags, so that after dropping repeats every item still has n_tags
    slots = int(drawn.sum())
    owner = np.repeat(np.arange(n_items), drawn)
    from_topic = rng.random(slots) < 0.6
    in_cluster = rng.choice(cluster_size, size=slots, p=_zipf(cluster_size, 0.8))
    anywhere = global_rank[rng.choice(len(vocabulary), size=slots, p=_zipf(len(vocabulary), 1.0))]
    tag = np.where(from_topic, clusters[item_topic[owner], in_cluster], anywhere)
    draws = pd.DataFrame({"owner": owner, "tag": vocabulary[tag]})
    given = draws.groupby(["owner", "tag"], sort=False).size().rename("given").reset_index()
    return given[given.groupby("owner").cumcount().to_numpy() < n_tags[given["owner"].to_numpy()]]


def _personal_tags(rng: np.random.Generator, users: np.ndarray, items: np.ndarray, n_users: int,
                   first_word: int) -> pd.DataFrame:
    """Tags the bookmarkers gave (`owner` item, `tag` rows): each user keeps 2-6 words of their own ("mythesis",
    "readinggroup") and files about half of their bookmarks under one of them, the commoner first (Zipf)."""
    sizes = rng.integers(2, 7, size=n_users)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    words = _pseudo_words(int(sizes.sum()), offset=first_word)
    filed = rng.random(len(users)) < 0.5
    who = users[filed]
    rank = np.minimum((rng.pareto(1.0, size=len(who))).astype(np.int64), sizes[who] - 1)
    return pd.DataFrame({"owner": items[filed], "tag": words[starts[who] + rank], "given": 1})


def _tag_lists(curated: pd.DataFrame, personal: pd.DataFrame, n_items: int, counted: bool) -> list[str | None]:
    """Each item's tags, its curated tags, then its bookmarkers' own, at most 30 in all: "|"-joined, or with
    `counted` as a weighted cell of how often each was given."""
    frame = pd.concat([curated, personal], ignore_index=True).groupby(["owner", "tag"], sort=False)["given"].sum()
    frame = frame.reset_index()
    frame = frame[frame.groupby("owner").cumcount().to_numpy() < 30]
    if counted:
        cells = {owner: weighted_notation(dict(zip(group["tag"], group["given"].astype(float))))
                 for owner, group in frame.groupby("owner", sort=True)}
        return [cells.get(owner) for owner in range(n_items)]
    joined = frame.groupby("owner", sort=True)["tag"].agg("|".join)
    return joined.reindex(range(n_items)).tolist()


def _bookmarks(n_users: int, n_items: int, n_interactions: int, seed: int, counted: bool) -> Dataset:
    rng = np.random.default_rng(seed)
    n_topics = 40
    item_topic = _topics(rng, n_items, n_topics)
    curated = _curated_tags(rng, item_topic, n_topics)
    taste = _live_taste(rng.dirichlet(np.full(n_topics, 0.15), size=n_users), item_topic)
    users, items = _draw_pairs(rng, taste, item_topic, _popularity(rng, n_items)[:, None],
                               np.zeros(n_users, dtype=np.int64), n_interactions)
    personal = _personal_tags(rng, users, items, n_users, first_word=max(3 * n_items, 20 * n_topics))
    return Dataset(
        interactions=_interactions(users, items, n_users, n_items),
        items=pd.DataFrame({"item_id": _ids("i", n_items),
                            "tags": pd.Series(_tag_lists(curated, personal, n_items, counted), dtype="str")}),
        item_kinds={"tags": "multi"},
        feedback=Feedback(kind="implicit"),
        name=f"{'tag-counts' if counted else 'tags'}-{n_users}u-{n_items}i-seed{seed}",
    )


def generate_tags(n_users: int, n_items: int, n_interactions: int, seed: int) -> Dataset:
    """Bookmarks with a free-form tag vocabulary, like Delicious, BibSonomy or CiteULike (HetRec 2011
    delicious-2k).

    Items carry 3-30 tags from a Zipf-distributed vocabulary of thousands of words per 10k items; 40 topics,
    each a cluster of tags, hold the taste signal. As on those sites, tags are user-assigned: besides the words
    about the item, an item carries the personal filing tags of the users who bookmarked it, a vocabulary with a
    long tail of words only one user uses, which ties a new item to its bookmarkers' other items. Implicit
    feedback (a bookmark, no rating), no user attributes, no timestamps.
    """
    return _bookmarks(n_users, n_items, n_interactions, seed, counted=False)


def generate_tag_counts(n_users: int, n_items: int, n_interactions: int, seed: int) -> Dataset:
    """The bookmarks of `generate_tags`, each tag with how often it was given to the item, as HetRec's
    `bookmark_tags.dat` weighs a bookmark's tags, MovieLens' `tags.csv` repeats a movie's tag per user and
    Goodreads' `book_tags.csv` counts a book's shelvings: a tag about the item's topic is given more often than
    a stray one."""
    return _bookmarks(n_users, n_items, n_interactions, seed, counted=True)


def generate_genres(n_users: int, n_items: int, n_interactions: int, seed: int) -> Dataset:
    """Movie ratings with a few coarse genres, like MovieLens 1M: items have 2-4 of 18 genres and a year, users an
    age, gender and occupation, ratings 1-5 (positives from 4). No timestamps.

    12 topics, each a favourite set of genres and an era; a user's taste over topics follows their occupation,
    age group and gender, and younger users prefer recent items. Ratings follow the same match.
    """
    rng = np.random.default_rng(seed)
    n_topics, n_genres = 12, len(GENRES)
    item_topic = _topics(rng, n_items, n_topics)
    genre_profile = rng.dirichlet(np.full(n_genres, 0.25), size=n_topics)
    n_item_genres = rng.integers(2, 5, size=n_items)
    genres = ["|".join(GENRES[g] for g in sorted(rng.choice(n_genres, size=k, replace=False, p=genre_profile[t])))
              for t, k in zip(item_topic, n_item_genres)]
    era = rng.uniform(1950, 2000, size=n_topics)
    year = np.clip(np.round(era[item_topic] + rng.normal(0, 8, size=n_items)), 1920, 2005)

    age_group = rng.choice(len(AGE_GROUPS), size=n_users, p=[0.3, 0.35, 0.2, 0.15])
    age = rng.integers(np.array([g[0] for g in AGE_GROUPS])[age_group], np.array([g[1] for g in AGE_GROUPS])[age_group])
    gender = rng.choice(2, size=n_users, p=[0.7, 0.3])
    occupation = rng.choice(len(OCCUPATIONS), size=n_users, p=rng.dirichlet(np.full(len(OCCUPATIONS), 3.0)))
    logits = (rng.normal(0, 1.5, size=(len(OCCUPATIONS), n_topics))[occupation]
              + rng.normal(0, 1.0, size=(len(AGE_GROUPS), n_topics))[age_group]
              + rng.normal(0, 1.0, size=(2, n_topics))[gender] + 0.7 * rng.normal(size=(n_users, n_topics)))
    taste = np.exp(logits - logits.max(axis=1, keepdims=True))
    taste = _live_taste(taste / taste.sum(axis=1, keepdims=True), item_topic)
    recency = _standardised(year)
    appeal = np.outer(recency, np.linspace(0.8, -0.6, len(AGE_GROUPS))) + rng.normal(0, 0.5, size=(n_items, 1))
    weight = _popularity(rng, n_items)[:, None] * np.exp(appeal)
    users, items = _draw_pairs(rng, taste, item_topic, weight, age_group, n_interactions)
    match = _standardised(np.log(taste[users, item_topic[items]]) + appeal[items, age_group[users]])
    rating = np.clip(np.round(3.6 + 0.8 * match + 0.6 * rng.normal(size=len(users))), 1, 5)
    return Dataset(
        interactions=_interactions(users, items, n_users, n_items, rating),
        items=pd.DataFrame({"item_id": _ids("i", n_items), "genres": pd.Series(genres, dtype="str"), "year": year}),
        users=pd.DataFrame({"user_id": _ids("u", n_users), "age": age.astype("float64"),
                            "gender": pd.Series(np.asarray(["M", "F"], dtype=object)[gender], dtype="str"),
                            "occupation": pd.Series(np.asarray(OCCUPATIONS, dtype=object)[occupation], dtype="str")}),
        item_kinds={"genres": "multi", "year": "numeric"},
        user_kinds={"age": "numeric", "gender": "categorical", "occupation": "categorical"},
        feedback=Feedback(kind="explicit", positive_threshold=4.0),
        name=f"genres-{n_users}u-{n_items}i-seed{seed}",
    )


def _sentences(rng: np.random.Generator, item_topic: np.ndarray, topic_words: np.ndarray, common: np.ndarray,
               rare: np.ndarray, low: int, high: int) -> list[str]:
    """Per item, `low`..`high` words: half from its topic's vocabulary, a third common words, the rest rare."""
    n_items, n_topic_words = len(item_topic), topic_words.shape[1]
    n_words = rng.integers(low, high + 1, size=n_items)
    owner = np.repeat(np.arange(n_items), n_words)
    source = rng.random(len(owner))
    word = np.where(source < 0.5, topic_words[item_topic[owner], rng.choice(n_topic_words, size=len(owner),
                                                                              p=_zipf(n_topic_words, 0.7))],
                    np.where(source < 0.85, common[rng.choice(len(common), size=len(owner), p=_zipf(len(common), 1.0))],
                             rare[rng.integers(0, len(rare), size=len(owner))]))
    return pd.Series(word).groupby(owner).agg(" ".join).tolist()


def generate_text(n_users: int, n_items: int, n_interactions: int, seed: int) -> Dataset:
    """Play counts of tracks described by free text, like Last.fm 1K / 360K with titles and descriptions.

    Items have a title (2-4 words) and a description (15-40 words) mixing words of their topic (25 topics of 60
    words), common words and a long tail of rare ones. Implicit feedback: heavy-tailed play counts that grow with
    the user's taste for the topic. No user attributes, no timestamps.
    """
    rng = np.random.default_rng(seed)
    n_topics, n_topic_words = 25, 60
    words = _pseudo_words(n_topics * n_topic_words + 150 + max(n_items, 500))
    topic_words = words[:n_topics * n_topic_words].reshape(n_topics, n_topic_words)
    common, rare = words[n_topics * n_topic_words:][:150], words[n_topics * n_topic_words + 150:]
    item_topic = _topics(rng, n_items, n_topics)
    titles = _sentences(rng, item_topic, topic_words, common, rare, 2, 4)
    descriptions = _sentences(rng, item_topic, topic_words, common, rare, 15, 40)
    taste = _live_taste(rng.dirichlet(np.full(n_topics, 0.2), size=n_users), item_topic)
    users, items = _draw_pairs(rng, taste, item_topic, _popularity(rng, n_items)[:, None],
                               np.zeros(n_users, dtype=np.int64), n_interactions)
    match = _standardised(np.log(taste[users, item_topic[items]]))
    plays = np.ceil(np.exp(1.0 + 0.8 * match + 1.3 * rng.normal(size=len(users))))
    return Dataset(
        interactions=_interactions(users, items, n_users, n_items, plays),
        items=pd.DataFrame({"item_id": _ids("i", n_items), "title": pd.Series(titles, dtype="str"),
                            "description": pd.Series(descriptions, dtype="str")}),
        item_kinds={"title": "text", "description": "text"},
        feedback=Feedback(kind="implicit", count_weight="log"),
        name=f"text-{n_users}u-{n_items}i-seed{seed}",
    )


def generate_counts(n_users: int, n_items: int, n_interactions: int, seed: int) -> Dataset:
    """Purchase quantities in a shop, like a retail basket log: the synthetic shop with play counts instead of
    ratings and without timestamps (item category, tags, price and title; user age, occupation, region)."""
    shop = generate_synthetic(n_users, n_items, n_interactions, seed, feedback="counts")
    shop.interactions = shop.interactions.drop(columns="timestamp")
    shop.name = f"counts-{n_users}u-{n_items}i-seed{seed}"
    return shop


DATA_KINDS: dict[KindName, DataKind] = {kind.name: kind for kind in (
    DataKind("shop", "Shop with ratings and timestamps", "a web shop's reviews", generate_synthetic),
    DataKind("tags", "Bookmarks with free tags", "Delicious / BibSonomy (HetRec delicious-2k)", generate_tags),
    DataKind("tag-counts", "Bookmarks with counted tags", "HetRec delicious-2k's tag weights, MovieLens tags",
             generate_tag_counts),
    DataKind("genres", "Movie ratings with genres", "MovieLens 1M", generate_genres),
    DataKind("text", "Play counts of tracks with descriptions", "Last.fm 1K / 360K", generate_text),
    DataKind("counts", "Shop with purchase counts", "a retail basket log", generate_counts),
)}


def generate_kind(kind: KindName, n_users: int, n_items: int, n_interactions: int, seed: int = 0) -> Dataset:
    """A seeded data set of `kind` with at most `n_interactions` distinct (user, item) rows."""
    if kind not in DATA_KINDS:
        raise ValueError(f"unknown data kind {kind!r}; choose one of {', '.join(DATA_KINDS)}")
    if n_users < 2 or n_items < 2 or n_interactions < 1:
        raise ValueError("generate_kind needs at least 2 users, 2 items and 1 interaction")
    return DATA_KINDS[kind].generate(n_users, n_items, n_interactions, seed)
