"""ItemKNN, UserKNN, RP3beta and EASE: neighbourhoods, pruning, shrinkage and the closed form."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from engine.data.indexing import build_train_data, item_query, user_query
from engine.models._similarity import cosine_top_k
from engine.models.ease import EASERecommender
from engine.models.itemknn import ItemKNNRecommender
from engine.models.rp3beta import RP3betaRecommender
from engine.models.userknn import UserKNNRecommender
from tests.unit.model_fixtures import interactions, two_taste_world
from tests.unit.tiny_world import tiny_world


def test_itemknn_recommends_what_is_co_liked_with_the_history_of_a_new_user() -> None:
    _, data = two_taste_world()
    model = ItemKNNRecommender({"k": 5, "shrink": 0.0}).fit(data)
    revealed = interactions([("newcomer", "x")])
    scores = model.score(user_query(data, ["newcomer"], revealed), item_query(data, ["b", "y"])).numpy()
    assert scores[0, 1] > 0 and scores[0, 0] == 0  # y is co-liked with x, b never is


def test_itemknn_keeps_at_most_k_neighbours_per_item() -> None:
    model = ItemKNNRecommender({"k": 3}).fit(tiny_world().data)
    assert model.weights.getnnz(axis=1).max() <= 3
    assert model.weights.diagonal().sum() == 0  # an item is never its own neighbour


def test_shrinkage_lowers_similarities_built_on_few_co_occurrences() -> None:
    vectors = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1]], dtype=float))
    plain = cosine_top_k(vectors, vectors, k=2, shrink=0.0, self_index=np.arange(3)).toarray()
    shrunk = cosine_top_k(vectors, vectors, k=2, shrink=10.0, self_index=np.arange(3)).toarray()
    assert plain[0, 1] == pytest.approx(1.0)
    assert 0 < shrunk[0, 1] < plain[0, 1]


def test_userknn_never_counts_a_user_as_their_own_neighbour() -> None:
    data = build_train_data(interactions([("u1", "a"), ("u1", "only_u1"), ("u2", "a"), ("u2", "b")]))
    scores = UserKNNRecommender({"k": 5, "shrink": 0.0}).fit(data).score(
        user_query(data, ["u1"]), item_query(data, ["only_u1", "b"])).numpy()
    assert scores[0, 0] == 0  # only u1 liked it, and u1 is not its own neighbour
    assert scores[0, 1] > 0  # b comes from neighbour u2


def test_userknn_scores_a_new_item_through_its_revealed_users() -> None:
    _, data = two_taste_world()
    revealed = interactions([("f1", "n1"), ("f2", "n1")])
    scores = UserKNNRecommender({"k": 2, "shrink": 0.0}).fit(data).score(
        user_query(data, ["f3", "m3"]), item_query(data, ["n1"], revealed)).numpy()
    assert scores[0, 0] > scores[1, 0]  # women's neighbours revealed it


def test_ease_weights_solve_the_closed_form_with_a_zero_diagonal() -> None:
    data = tiny_world().data
    l2 = 50.0
    weights = EASERecommender({"l2": l2}).fit(data).weights
    x = data.matrix.toarray().astype(np.float64)
    gram = x.T @ x + l2 * np.eye(data.n_items)
    # EASE is ridge regression of each item column on all other items: the gradient vanishes off the diagonal
    residual_gradient = gram @ weights - x.T @ x
    off_diagonal = ~np.eye(data.n_items, dtype=bool)
    assert np.abs(np.diag(weights)).max() == 0
    assert np.abs(residual_gradient[off_diagonal]).max() < 1e-3


def test_rp3beta_popularity_damping_moves_weight_towards_rarer_items() -> None:
    data = tiny_world().data
    popularity = np.asarray(data.matrix.sum(axis=0)).ravel()
    popular, rare = np.argmax(popularity), np.argmin(np.where(popularity > 0, popularity, np.inf))

    def share(beta: float) -> float:
        weights = RP3betaRecommender({"beta": beta, "k": data.n_items}).fit(data).weights.toarray()
        return weights[:, rare].sum() / weights[:, popular].sum()

    assert share(0.8) > share(0.0)


@pytest.mark.parametrize("model", [ItemKNNRecommender(), RP3betaRecommender(), EASERecommender()])
def test_item_to_item_models_refuse_new_items_with_a_clear_reason(model) -> None:
    world = tiny_world()
    model.fit(world.data)
    with pytest.raises(ValueError, match="cannot score items it never saw"):
        model.score(world.known_users, world.new_items)
