"""Short, honest reasons for recommended items, computed from the training data and the attribute encoding.

These are *post-hoc* explanations: they do not read a model's internals, they point at evidence in the data that
agrees with a recommendation. Three kinds exist, and the page says which one it shows:
- co-liked: the user's history item most similar to the recommended one (cosine of their columns in the training
  matrix), the classic item-to-item explanation of neighbourhood and factorization models (Herlocker et al. 2000);
  a new item, which nobody liked in training, gets the attribute reason instead;
- attributes: the attribute values (genre, brand, words) the item shares with what the user liked, which is what a
  content model matches on;
- similar users: for a user with no history, how much more often users sharing one of the user's attribute values
  liked the item than users overall (segment popularity, what segment and attribute-to-CF models rely on);
- popular: the share of all training users who liked the item, all a global popularity model knows.

And one for the other direction, a made-up new item's audience: which of the item's attribute values the items a
user liked share, and how many of them do (`audience_fit`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.core.data import TrainData

REASON_KINDS = {
    "co-liked": "Because you liked X: the item in your history most often liked by the same people (item-item "
                "cosine similarity in the training data). Evidence in the data, not the model's own computation.",
    "attributes": "Matches Y: attribute values the item shares with the items you liked.",
    "similar-users": "Liked by users like you: users sharing one of your attribute values liked it more often than "
                     "users overall (training data).",
    "popular": "Popular: the share of all training users who liked the item; the same for every user.",
    "audience": "Why them: how many of the items this user liked in training share the new item's attribute values, "
                "the values most of them share, and the items sharing the most. Evidence in the data, not the "
                "model's own computation.",
}

_FAMILY_KIND = {
    "content": "attributes",
    "popularity": "popular",
}
"""The reason that matches what a model family uses; every collaborative family gets co-liked."""

_LABEL_COLUMNS = ("title", "name", "label")
MIN_SUPPORT = 3
"""Fewer likers than this among a group is an anecdote, not evidence: such a share gives no reason."""


@dataclass(frozen=True)
class Reason:
    """One explanation line for one recommended item, and which kind of evidence it is (a key of REASON_KINDS)."""

    text: str
    kind: str


def reason_kind_for(family: str, has_history: bool, uses_user_features: bool = False) -> str:
    """Which kind of reason fits a model of `family` (that reads user attributes or not) for a user with or
    without revealed history."""
    kind = _FAMILY_KIND.get(family, "co-liked")
    if kind == "popular":
        # segment popularity counts per attribute value; global popularity knows nothing about the user
        return "similar-users" if uses_user_features else "popular"
    if not has_history:
        # without any liked item there is nothing to be similar to: attribute-based segments are the evidence left
        return "similar-users"
    return kind


def item_labels(items: pd.DataFrame | None) -> dict[str, str]:
    """Readable names per item id: a title or name column when the item table has one, else the id."""
    if items is None:
        return {}
    column = next((c for c in _LABEL_COLUMNS if c in items.columns), None)
    if column is None:
        return {}
    return dict(zip(items["item_id"].astype(str), items[column].astype(str)))


def describe_feature(column: str) -> str:
    """A feature column name as words: `genres=Comedy` -> `genres Comedy`, `title~love` -> `'love' in title`."""
    if "~" in column:
        field, word = column.split("~", 1)
        return f"'{word}' in {field}"
    if ":bin" in column:
        return f"similar {column.split(':bin', 1)[0]}"
    return column.replace("=", " ", 1)


def describe_features(columns: list[str]) -> str:
    """Feature columns as words, the values of one field after its name once: `tags=dilo`, `tags=gepi`,
    `year:bin3` -> `tags dilo, gepi, similar year`."""
    phrases: dict[str, list[str]] = {}  # a field's values, or a phrase of its own, in order of first appearance
    for column in columns:
        named = "=" in column and "~" not in column and ":bin" not in column
        field, value = column.split("=", 1) if named else (column, "")
        phrases.setdefault(field if named else describe_feature(column), []).extend([value] if named else [])
    return ", ".join(f"{key} {', '.join(values)}" if values else key for key, values in phrases.items())


def _feature_priority(column: str) -> int:
    """Named values (genre, brand) read best, then numeric ranges, then single words of a text field."""
    if "~" in column:
        return 2
    return 1 if ":bin" in column else 0


def share_text(share: float) -> str:
    """A share as a percentage precise enough never to print a real share as 0% (12%, 3.4%, 0.31%)."""
    percent = 100 * share
    if percent >= 10 or percent == 0:
        return f"{percent:.0f}%"
    return f"{percent:.1f}%" if percent >= 1 else f"{percent:.2g}%"


def _none_shared(liked: int) -> str:
    """The audience reason of a user none of whose liked items shares the new item's attributes."""
    return "the one item they liked shares none of its attributes" if liked == 1 else \
        f"none of the {liked} items they liked shares its attributes"


def _l2_rows(matrix: sp.spmatrix) -> sp.csr_matrix:
    csr = sp.csr_matrix(matrix, dtype=np.float64)
    norms = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ csr)


class Explainer:
    """Reasons for one dataset's training data; build once per experiment, reuse for every user and model."""

    def __init__(self, data: TrainData, labels: dict[str, str] | None = None) -> None:
        self.data = data
        self.labels = labels or {}
        # a plain dict: every served request looks items up here, and a pandas Index of strings is slow to probe
        self._item_position = {str(item): position for position, item in enumerate(data.item_ids)}
        # item x user, rows unit length: one sparse product gives every cosine between two items
        self._item_vectors = _l2_rows(data.matrix.T)
        self._liked_by = sp.csc_matrix(data.matrix > 0, dtype=np.float64)  # user x item, 1 where liked
        self._likers = np.asarray(self._liked_by.sum(axis=0)).ravel()
        self._overall_share = self._likers / max(data.n_users, 1)
        features = data.user_features
        self._user_attributes = features.rows(data.user_ids).tocsc() if features is not None else None
        # built on the first audience asked for: item x feature (1 where set), and who liked what by user rows
        self._item_attributes: sp.csr_matrix | None = None
        self._liked_rows: sp.csr_matrix | None = None

    def _positions(self, items: list[str]) -> np.ndarray:
        """Training positions of `items` (-1 for items unseen in training)."""
        return np.fromiter((self._item_position.get(str(item), -1) for item in items), dtype=np.int64,
                           count=len(items))

    def label(self, item_id: str) -> str:
        return self.labels.get(str(item_id), str(item_id))

    def because_you_liked(self, history: list[str], items: list[str]) -> list[Reason | None]:
        """Per item: the most similar history item by co-occurrence, or None for items unseen in training."""
        known = [h for h in history if h in self._item_position]
        if not known:
            return [None] * len(items)
        history_rows = self._item_vectors[self._positions(known)]
        positions = self._positions(items)
        seen = np.flatnonzero(positions >= 0)
        # one sparse product for all items (history x items), not one per item: this runs on every served request
        similarity = (history_rows @ self._item_vectors[positions[seen]].T).toarray()
        reasons: list[Reason | None] = [None] * len(items)
        for column, slot in enumerate(seen):
            best = int(np.argmax(similarity[:, column]))
            if similarity[best, column] > 0:
                reasons[slot] = Reason(f"because you liked {self.label(known[best])} "
                                       f"(similarity {similarity[best, column]:.2f})", "co-liked")
        return reasons

    def matching_attributes(self, liked: np.ndarray, items: list[str], top: int = 2) -> list[Reason | None]:
        """Per item: the strongest attribute values it shares with `liked` (a summed item feature row of what the
        user liked)."""
        features = self.data.item_features
        if features is None:
            return [None] * len(items)
        profile = np.asarray(liked, dtype=np.float64).ravel()
        rows = features.rows(items).toarray()
        reasons: list[Reason | None] = []
        for row in rows:
            # numeric z-score columns can be negative; only categorical, multi, text and bin columns are "shared"
            shared = np.where((row > 0) & (profile > 0), row * profile, 0.0)
            candidates = np.flatnonzero(shared > 0)
            order = sorted(candidates, key=lambda c: (_feature_priority(features.columns[c]), -shared[c]))[:top]
            text = describe_features([features.columns[c] for c in order])
            reasons.append(Reason(f"matches {text}", "attributes") if order else None)
        return reasons

    def liked_by_similar_users(self, user_row: sp.csr_matrix, items: list[str]) -> list[Reason | None]:
        """Per item: the user's attribute value whose holders liked the item most often relative to everyone, when
        at least `MIN_SUPPORT` of them liked it; None otherwise.

        `user_row` is the user's feature row (from the dataset, or built from attribute values chosen on a page).
        """
        features = self.data.user_features
        if features is None or self._user_attributes is None or user_row.nnz == 0:
            return [None] * len(items)
        # a numeric field's z-score column is named like the field; it is a level, not a value users share
        values = [c for c in sp.csr_matrix(user_row).indices
                  if features.columns[c] != features.field_names[features.column_field[c]]]
        positions = self._positions(items)
        seen = np.flatnonzero(positions >= 0)
        reasons: list[Reason | None] = [None] * len(items)
        if not values or not len(seen):
            return reasons
        # holders of each value (rows) x items (columns): how many liked it, all in one sparse product
        holders = self._user_attributes[:, values].T.tocsr()
        holders.data = (holders.data > 0).astype(np.float64)
        liked = self._liked_by[:, positions[seen]]
        counts = (holders @ liked).toarray()
        n_holders = np.asarray(holders.sum(axis=1)).ravel()[:, None]
        shares = np.divide(counts, n_holders, out=np.zeros_like(counts), where=n_holders > 0)
        lifts = shares / self._overall_share[positions[seen]][None, :]
        lifts[(counts < MIN_SUPPORT) | ~(lifts > 1.0)] = -np.inf
        for column, slot in enumerate(seen):
            best = int(np.argmax(lifts[:, column]))  # the first value of the highest lift, as the loop it replaced
            if np.isfinite(lifts[best, column]):
                position = positions[slot]
                reasons[slot] = Reason(
                    f"liked by {share_text(shares[best, column])} of users with "
                    f"{describe_feature(features.columns[values[best]])} "
                    f"(vs {share_text(self._overall_share[position])} overall)", "similar-users")
        return reasons

    def audience_fit(self, item_row: sp.csr_matrix | None, users: list[str], top: int = 3,
                     examples: int = 2) -> list[Reason]:
        """Per training user of `users`: how many items they liked share attribute values with a new item (its
        feature row), the `top` values most of those items share, and the `examples` sharing the most; or that
        none does, so the model's pick rests on something else (co-occurrence, popularity)."""
        features = self.data.item_features
        position = {str(user): p for p, user in enumerate(self.data.user_ids)}
        if self._liked_rows is None:
            self._liked_rows = self._liked_by.tocsr()
        liked = self._liked_rows[[position[str(user)] for user in users]]
        counts = np.diff(liked.indptr)
        shared_columns = np.array([], dtype=np.int64)
        if features is not None and item_row is not None:
            row = sp.csr_matrix(item_row)
            # a numeric field's z-score column is named like the field: a level, not a value items share
            levels = {c for c in row.indices if features.columns[c] == features.field_names[features.column_field[c]]}
            shared_columns = np.array([c for c, v in zip(row.indices, row.data) if v > 0 and c not in levels],
                                      dtype=np.int64)
        if not len(shared_columns):
            return [Reason(_none_shared(n), "audience") for n in counts]
        if self._item_attributes is None:
            self._item_attributes = sp.csr_matrix(features.rows(self.data.item_ids) > 0, dtype=np.float64)
        sharing = self._item_attributes[:, shared_columns]  # item x the new item's values, 1 where the item has it
        per_value = (liked @ sharing).toarray()  # user x value: how many liked items have it
        per_item = liked.multiply(np.asarray(sharing.sum(axis=1)).ravel()[None, :]).tocsr()  # values shared per item
        reasons = []
        for user, total in enumerate(counts):
            shares = per_item[user].data > 0  # the product keeps liked items that share nothing as explicit zeros
            items, values = per_item[user].indices[shares], per_item[user].data[shares]
            matched = len(items)
            if not matched:
                reasons.append(Reason(_none_shared(total), "audience"))
                continue
            order = sorted(np.flatnonzero(per_value[user] > 0),
                           key=lambda c: (_feature_priority(features.columns[shared_columns[c]]), -per_value[user, c]))
            named = describe_features([features.columns[shared_columns[c]] for c in order[:top]])
            best = items[np.argsort(-values, kind="stable")[:examples]]
            labels = ", ".join(self.label(str(self.data.item_ids[i])) for i in best)
            which = "the one item they liked shares" if total == 1 else \
                f"{matched} of the {total} items they liked share{'s' if matched == 1 else ''}"
            reasons.append(Reason(f"{which} {named}: {labels}", "audience"))
        return reasons

    def popular(self, items: list[str]) -> list[Reason | None]:
        """Per item: the share of training users who liked it (None for items unseen in training or liked by none)."""
        positions = self._positions(items)
        return [Reason(f"liked by {share_text(self._overall_share[p])} of all users", "popular")
                if p >= 0 and self._likers[p] > 0 else None for p in positions]

    def _new_items_by_attributes(self, reasons: list[Reason | None], items: list[str],
                                 history: list[str]) -> list[Reason | None]:
        """`reasons` with each item unseen in training (a new item: nobody liked it, so no co-liked evidence exists)
        given what it shares with the user's history instead, the only evidence a model can have used for it."""
        positions = self._positions(items)
        unseen = [slot for slot, position in enumerate(positions) if reasons[slot] is None and position < 0]
        if not unseen:
            return reasons
        matched = self.explain("attributes", [items[position] for position in unseen], history=history,
                               user_row=None)
        filled = list(reasons)
        for position, reason in zip(unseen, matched):
            filled[position] = reason
        return filled

    def explain(self, kind: str, items: list[str], *, history: list[str],
                user_row: sp.csr_matrix | None) -> list[Reason | None]:
        """Reasons of `kind` (see `reason_kind_for`) for `items` recommended to a user with `history`."""
        if kind == "co-liked":
            return self._new_items_by_attributes(self.because_you_liked(history, items), items, history)
        if kind == "attributes":
            if self.data.item_features is None or not history:
                return [None] * len(items)
            liked = np.asarray(self.data.item_features.rows(history).sum(axis=0)).ravel()
            return self.matching_attributes(liked, items)
        if kind == "popular":
            return self.popular(items)
        if kind == "similar-users":
            if user_row is None or sp.csr_matrix(user_row).nnz == 0:
                # nothing is known of the user (no attributes set, none in the data, no history): every model shows
                # anyone new the same list, and how many users liked each item is the evidence there is
                return self.popular(items)
            return self.liked_by_similar_users(user_row, items)
        raise ValueError(f"unknown reason kind {kind!r}; expected one of {', '.join(REASON_KINDS)}")
