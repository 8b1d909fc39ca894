"""Who is onboarded and what they can answer: held-out users, each with an answerable part and a test part.

Following the evaluation of Elahi, Ricci and Rubens (2016), each new user's rows on training items are drawn once
(seeded) into the part the user can answer questions from and the part left to find. A question about an item in
the answerable part gets 'liked' (a positive under the dataset's feedback) or 'not liked' (rated, not a positive);
any other item gets 'never seen', which is what penalises obscure questions. The test part is the same for every
strategy and every number of questions, so curves compare like with like and pair user by user.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.core.data import TrainData
from engine.data.dataset import Dataset
from engine.onboarding.base import LIKED, NOT_LIKED, OnboardingError
from engine.protocols.common import rng_for

DEFAULT_ANSWER_FRACTION = 0.5


@dataclass
class OnboardingPopulation:
    """Held-out users in the model's training item columns: `answers` (+1 liked, -1 not liked, answerable part
    only), `truth` (1 on held-out positives to find), `features` (attribute rows, or None)."""

    user_ids: np.ndarray
    answers: sp.csr_matrix
    truth: sp.csr_matrix
    features: sp.csr_matrix | None
    excluded_users: int = 0
    """Held-out users left out because none of their positives fell in the test part."""

    def __len__(self) -> int:
        return len(self.user_ids)


def labelled_rows(dataset: Dataset, user_ids: np.ndarray, item_ids: np.ndarray) -> pd.DataFrame:
    """Every row of `user_ids` on `item_ids` with `positive` (bool), string ids, in a canonical order."""
    rows = dataset.interactions[["user_id", "item_id"]].astype(str)
    rows = rows.loc[rows["user_id"].isin(set(user_ids)) & rows["item_id"].isin(set(item_ids))]
    positives = dataset.positives()[["user_id", "item_id"]].astype(str)
    keys = pd.MultiIndex.from_frame(positives)
    rows = rows.assign(positive=pd.MultiIndex.from_frame(rows).isin(keys))
    return rows.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)


def onboarding_population(dataset: Dataset, train: TrainData, user_ids: np.ndarray | list[str], seed: int, *,
                          answer_fraction: float = DEFAULT_ANSWER_FRACTION) -> OnboardingPopulation:
    """The held-out `user_ids` (unseen in `train`) split into answerable rows and test positives, seeded."""
    if not 0 < answer_fraction < 1:
        raise OnboardingError(f"answer_fraction={answer_fraction!r} must be a fraction in (0, 1): the share of a "
                              "new user's history they can answer questions from")
    ids = np.asarray(sorted({str(u) for u in user_ids}), dtype=object)
    known = set(train.user_ids.tolist())
    if seen := [u for u in ids if u in known]:
        raise OnboardingError(f"users {', '.join(seen[:5])} have training rows; onboarding needs new users")
    rows = labelled_rows(dataset, ids, train.item_ids)
    answerable = rng_for(seed, "onboarding-answerable").random(len(rows)) < answer_fraction
    truth_rows = rows.loc[~answerable & rows["positive"].to_numpy()]
    kept = np.asarray(sorted(truth_rows["user_id"].unique()), dtype=object)
    user_index = pd.Index(kept)
    item_index = pd.Index(train.item_ids)

    def matrix(frame: pd.DataFrame, values: np.ndarray) -> sp.csr_matrix:
        r = user_index.get_indexer(frame["user_id"])
        keep = r >= 0
        return sp.csr_matrix((values[keep], (r[keep], item_index.get_indexer(frame["item_id"])[keep])),
                             shape=(len(kept), len(item_index)), dtype=np.float32)

    answered = rows.loc[answerable]
    answers = matrix(answered, np.where(answered["positive"], LIKED, NOT_LIKED).astype(np.float32))
    truth = matrix(truth_rows, np.ones(len(truth_rows), np.float32))
    features = train.user_features.rows(kept) if train.user_features is not None else None
    return OnboardingPopulation(kept, answers, truth, features, excluded_users=len(ids) - len(kept))


def training_ratings(dataset: Dataset, train: TrainData) -> sp.csr_matrix | None:
    """Training users' rating values on training items, positives and not (what entropy strategies read), or
    None when the dataset has no star ratings."""
    if not dataset.has_ratings:
        return None
    rows = dataset.interactions[["user_id", "item_id", "rating"]].astype({"user_id": str, "item_id": str})
    r = pd.Index(train.user_ids).get_indexer(rows["user_id"])
    c = pd.Index(train.item_ids).get_indexer(rows["item_id"])
    keep = (r >= 0) & (c >= 0) & rows["rating"].notna().to_numpy()
    # a training user's positives held out for validation or test stay unseen; rows that are no positive belong to
    # no part of any split, so they are read from the dataset
    positive = labelled_rows(dataset, train.user_ids, train.item_ids)
    held_out = positive.loc[positive["positive"]]
    in_train = np.asarray(train.matrix[pd.Index(train.user_ids).get_indexer(held_out["user_id"]),
                                       pd.Index(train.item_ids).get_indexer(held_out["item_id"])]).ravel() > 0
    hidden = pd.MultiIndex.from_frame(held_out.loc[~in_train, ["user_id", "item_id"]])
    keep &= ~pd.MultiIndex.from_frame(rows[["user_id", "item_id"]]).isin(hidden)
    return sp.csr_matrix((rows["rating"].to_numpy(np.float32)[keep], (r[keep], c[keep])),
                         shape=(train.n_users, train.n_items))
