"""Implicit ALS (solver, fold-in) and the attribute-to-vector mapper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from engine.data.indexing import item_query, user_query
from engine.models.als import ALSRecommender, solve_factors
from engine.models.attribute_mapper import AttributeMapperRecommender, apply_ridge_map, fit_ridge_map
from tests.unit.model_fixtures import two_taste_world
from tests.unit.tiny_world import tiny_world


def test_conjugate_gradient_half_step_matches_the_exact_weighted_least_squares_solution() -> None:
    rng = np.random.default_rng(0)
    matrix = sp.random(6, 9, density=0.4, random_state=1, format="csr", dtype=np.float32)
    matrix.data[:] = 1.0
    fixed = torch.from_numpy(rng.normal(size=(9, 4)).astype(np.float32))
    reg, alpha = 0.5, 3.0
    solved = solve_factors(matrix, fixed, torch.zeros(6, 4), reg, alpha, steps=8).numpy()
    y = fixed.numpy().astype(np.float64)
    for u in range(6):
        confidence = 1.0 + alpha * matrix[u].toarray().ravel()
        preference = (matrix[u].toarray().ravel() > 0).astype(float)
        exact = np.linalg.solve(y.T @ (confidence[:, None] * y) + reg * np.eye(4), y.T @ (confidence * preference))
        np.testing.assert_allclose(solved[u], exact, rtol=1e-3, atol=1e-4)


def test_half_step_with_a_prior_solves_the_penalty_centred_on_the_prior_mean() -> None:
    rng = np.random.default_rng(1)
    matrix = sp.random(5, 9, density=0.3, random_state=2, format="csr", dtype=np.float32)
    matrix.data[:] = 1.0
    fixed = torch.from_numpy(rng.normal(size=(9, 4)).astype(np.float32))
    prior = torch.from_numpy(rng.normal(size=(5, 4)).astype(np.float32))
    reg, alpha = 2.0, 3.0
    solved = solve_factors(matrix, fixed, prior.clone(), reg, alpha, steps=8, prior=prior).numpy()
    y = fixed.numpy().astype(np.float64)
    for u in range(5):
        confidence = 1.0 + alpha * matrix[u].toarray().ravel()
        preference = (matrix[u].toarray().ravel() > 0).astype(float)
        exact = np.linalg.solve(y.T @ (confidence[:, None] * y) + reg * np.eye(4),
                                y.T @ (confidence * preference) + reg * prior[u].numpy())
        np.testing.assert_allclose(solved[u], exact, rtol=1e-3, atol=1e-4)


def test_als_scores_training_positives_above_the_rest() -> None:
    data = tiny_world().data
    model = ALSRecommender({"factors": 8, "regularization": 1.0, "iterations": 10}).fit(data)
    scores = model.score(user_query(data, data.user_ids), item_query(data, data.item_ids)).numpy()
    positive = data.matrix.toarray() > 0
    assert scores[positive].mean() > scores[~positive].mean() + 0.2


def test_folding_in_a_known_users_history_recovers_their_trained_vector() -> None:
    data = tiny_world().data
    model = ALSRecommender({"factors": 8, "iterations": 15, "cg_steps": 8}).fit(data)
    folded = model.fold_in(data.matrix[:10], model.item_factors)
    trained = model.user_factors[:10]
    cosine = torch.nn.functional.cosine_similarity(folded, trained, dim=1)
    assert cosine.min() > 0.95


def test_als_folds_in_a_new_item_from_its_revealed_users() -> None:
    world = tiny_world()
    model = ALSRecommender({"factors": 8, "iterations": 5}).fit(world.data)
    assert torch.count_nonzero(model.item_vectors(world.new_items)) == 0
    assert torch.count_nonzero(model.item_vectors(world.revealed_items)) > 0


def test_ridge_map_recovers_a_linear_attribute_to_vector_relation() -> None:
    rng = np.random.default_rng(0)
    features = sp.csr_matrix(rng.normal(size=(200, 5)))
    truth = rng.normal(size=(5, 3))
    vectors = torch.from_numpy((features @ truth + 0.7).astype(np.float32))
    weights = fit_ridge_map(features, vectors, ridge=1e-6)
    np.testing.assert_allclose(apply_ridge_map(features, weights).numpy(), vectors.numpy(), atol=1e-3)


def test_mapper_serves_new_users_and_items_from_their_attributes() -> None:
    _, data = two_taste_world()
    model = AttributeMapperRecommender({"factors": 4, "regularization": 0.1, "iterations": 10, "ridge": 0.01}).fit(data)
    users = user_query(data, ["f_new", "m_new"])
    scores = model.score(users, item_query(data, ["n1", "n2"])).numpy()  # n1 is a drama, n2 action
    assert scores[0, 0] > scores[0, 1] and scores[1, 1] > scores[1, 0]


def test_mapper_refines_a_new_items_attribute_prediction_with_its_revealed_users_under_the_prior() -> None:
    _, data = two_taste_world()
    params = {"factors": 4, "regularization": 1.0, "iterations": 10, "ridge": 0.01}
    women, men = user_query(data, ["f1", "f2", "f3"]), user_query(data, ["m1", "m2", "m3"])
    # n1 is a drama (the women's genre) whose only revealed user is a man
    drama_seen_by_a_man = item_query(data, ["n1"], pd.DataFrame({"user_id": ["m3"], "item_id": ["n1"]}))

    def audience_gap(prior_strength: float) -> float:
        """How much more the women than the men are predicted to like n1."""
        model = AttributeMapperRecommender({**params, "prior_strength": prior_strength}).fit(data)
        return float(model.score(women, drama_seen_by_a_man).mean() - model.score(men, drama_seen_by_a_man).mean())

    assert audience_gap(1000.0) > 0  # a strong prior keeps the attributes' answer: a drama, for the women
    assert audience_gap(0.001) < 0  # a weak one lets the one revealed man decide, as the plain ALS fold-in does
