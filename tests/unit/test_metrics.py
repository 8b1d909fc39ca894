"""Metric definitions: hand-computed examples and agreement with a slow, obviously-correct reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.metrics import at_k_metrics, auc_per_user, beyond_accuracy, intra_list_diversity, top_k


def ranked(scores: list[list[float]], relevant: list[list[int]], ks: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Metrics at K the way the evaluator computes them."""
    score = torch.tensor(scores, dtype=torch.float32)
    rel = torch.tensor(relevant, dtype=torch.bool) & ~torch.isneginf(score)
    top_scores, positions = top_k(score, max(ks))
    listed = ~torch.isneginf(top_scores)
    out = at_k_metrics(rel.gather(1, positions) & listed, rel.sum(dim=1), ks)
    out["auc"] = auc_per_user(score, rel)
    return {name: value.numpy() for name, value in out.items()}


def test_hand_computed_example_at_three():
    # ranking by score: items 0, 1, 2, 3, 4; relevant items 1 and 3 (ranks 2 and 4)
    values = ranked([[0.9, 0.8, 0.7, 0.6, 0.5]], [[0, 1, 0, 1, 0]], (3,))
    assert values["recall@3"][0] == pytest.approx(0.5)
    assert values["precision@3"][0] == pytest.approx(1 / 3)
    assert values["hit@3"][0] == 1.0
    assert values["ndcg@3"][0] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert values["map@3"][0] == pytest.approx((1 / 2) / 2)
    assert values["mrr@3"][0] == pytest.approx(0.5)
    # the positive at rank 2 out-scores 2 of the 3 negatives, the one at rank 4 out-scores 1: (2 + 1) / (2 * 3)
    assert values["auc"][0] == pytest.approx(3 / 6)


def test_ideal_dcg_counts_at_most_k_positives():
    values = ranked([[0.9, 0.8, 0.7, 0.6]], [[1, 1, 1, 1]], (2,))
    assert values["ndcg@2"][0] == pytest.approx(1.0)
    assert values["recall@2"][0] == pytest.approx(0.5)
    assert values["map@2"][0] == pytest.approx(1.0)


def test_excluded_candidates_neither_rank_nor_count_as_negatives():
    values = ranked([[float("-inf"), 0.2, 0.9, 0.1]], [[0, 1, 0, 0]], (1, 2))
    assert values["mrr@2"][0] == pytest.approx(0.5)
    assert values["hit@1"][0] == 0.0
    assert values["auc"][0] == pytest.approx(0.5)  # beats 1 of the 2 remaining negatives


def test_users_without_a_relevant_candidate_are_undefined_not_zero():
    values = ranked([[0.3, 0.2], [0.1, 0.5]], [[0, 0], [1, 0]], (1,))
    assert np.isnan(values["recall@1"][0]) and np.isnan(values["ndcg@1"][0]) and np.isnan(values["auc"][0])
    assert values["recall@1"][1] == 0.0


def test_tied_scores_give_an_auc_of_one_half():
    values = ranked([[0.5, 0.5, 0.5, 0.5]], [[1, 0, 1, 0]], (2,))
    assert values["auc"][0] == pytest.approx(0.5)


def reference_metrics(scores: np.ndarray, relevant: np.ndarray, k: int) -> dict[str, float]:
    """Textbook definitions, one user, plain Python; ties ordered by candidate position like a stable sort."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    order = [i for i in order if scores[i] != -np.inf][:k]
    positives = [i for i in range(len(scores)) if relevant[i] and scores[i] != -np.inf]
    negatives = [i for i in range(len(scores)) if not relevant[i] and scores[i] != -np.inf]
    gains = [1.0 if relevant[i] else 0.0 for i in order]
    hits = sum(gains)
    dcg = sum(g / math.log2(r + 2) for r, g in enumerate(gains))
    idcg = sum(1 / math.log2(r + 2) for r in range(min(len(positives), k)))
    precisions = [sum(gains[:r + 1]) / (r + 1) for r in range(len(gains))]
    ap = sum(p for p, g in zip(precisions, gains) if g) / min(len(positives), k)
    first = next((r + 1 for r, g in enumerate(gains) if g), None)
    pairs = [(1.0 if scores[p] > scores[n] else 0.5 if scores[p] == scores[n] else 0.0)
             for p in positives for n in negatives]
    return {f"recall@{k}": hits / len(positives), f"precision@{k}": hits / k, f"hit@{k}": float(hits > 0),
            f"ndcg@{k}": dcg / idcg, f"map@{k}": ap, f"mrr@{k}": 1 / first if first else 0.0,
            "auc": sum(pairs) / len(pairs) if pairs else float("nan")}


@st.composite
def ranking_cases(draw):
    n_users = draw(st.integers(1, 5))
    n_items = draw(st.integers(2, 12))
    # few distinct values so ties are common; -inf marks excluded candidates
    levels = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, float("-inf")])
    scores = [[draw(levels) for _ in range(n_items)] for _ in range(n_users)]
    relevant = [[draw(st.booleans()) for _ in range(n_items)] for _ in range(n_users)]
    k = draw(st.integers(1, n_items))
    return np.asarray(scores), np.asarray(relevant), k


@settings(max_examples=150, deadline=None)
@given(ranking_cases())
def test_metrics_agree_with_the_reference_on_random_rankings(case):
    scores, relevant, k = case
    # ties are broken by candidate position in the reference; give the vectorised top-k the same order
    tie_broken = scores - np.arange(scores.shape[1]) * 1e-6
    values = ranked(tie_broken.tolist(), relevant.astype(int).tolist(), (k,))
    auc = auc_per_user(torch.tensor(scores, dtype=torch.float32),
                       torch.tensor(relevant) & ~torch.isneginf(torch.tensor(scores))).numpy()
    for user in range(scores.shape[0]):
        n_positive = int((relevant[user] & (scores[user] != -np.inf)).sum())
        if n_positive == 0:
            assert np.isnan(values[f"ndcg@{k}"][user])
            continue
        expected = reference_metrics(tie_broken[user], relevant[user], k)
        expected["auc"] = reference_metrics(scores[user], relevant[user], k)["auc"]
        for name, value in expected.items():
            got = auc[user] if name == "auc" else values[name][user]
            if math.isnan(value):
                assert math.isnan(got), name
            else:
                assert got == pytest.approx(value, abs=1e-9), name


def test_popularity_and_novelty_of_a_list():
    positions = torch.tensor([[0, 1]])
    listed = torch.tensor([[True, True]])
    counts = np.array([4.0, 0.0, 2.0])
    values = beyond_accuracy(positions, listed, counts, n_train_users=7, ks=(2,), unit_features=None)
    assert values["popularity@2"][0] == pytest.approx((4 / 7 + 0) / 2)
    assert values["novelty@2"][0] == pytest.approx((-math.log2(5 / 8) - math.log2(1 / 8)) / 2)
    assert "diversity@2" not in values


def test_intra_list_diversity_is_mean_pairwise_cosine_distance():
    features = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    top = np.array([[0, 1, 2], [0, 1, 3], [2, 0, 0]])
    listed = np.array([[True, True, True], [True, True, True], [True, False, False]])
    diversity = intra_list_diversity(top, listed, features)
    # pairs (0,1)=0, (0,2)=1, (1,2)=1 -> 2/3; with an attribute-less item: (0,1)=0, others 1 -> 2/3; single -> nan
    assert diversity[0] == pytest.approx(2 / 3)
    assert diversity[1] == pytest.approx(2 / 3)
    assert np.isnan(diversity[2])


@st.composite
def top_lists(draw):
    n_items = draw(st.integers(2, 8))
    n_features = draw(st.integers(1, 4))
    features = np.asarray([[draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])) for _ in range(n_features)]
                           for _ in range(n_items)])
    n_users = draw(st.integers(1, 4))
    depth = draw(st.integers(1, n_items))
    top = np.asarray([draw(st.permutations(range(n_items)))[:depth] for _ in range(n_users)])
    listed = np.asarray([[draw(st.booleans()) for _ in range(depth)] for _ in range(n_users)])
    return features, top, listed


@settings(max_examples=100, deadline=None)
@given(top_lists())
def test_diversity_agrees_with_pairwise_cosine_distances(case):
    features, top, listed = case
    norms = np.linalg.norm(features, axis=1)
    unit = sp.csr_matrix(np.divide(features, norms[:, None], out=np.zeros_like(features), where=norms[:, None] > 0))
    diversity = intra_list_diversity(top, listed, unit)
    for user in range(top.shape[0]):
        items = top[user][listed[user]]
        distances = []
        for a in range(len(items)):
            for b in range(len(items)):
                if a != b:
                    u, v = features[items[a]], features[items[b]]
                    both = np.linalg.norm(u) * np.linalg.norm(v)
                    distances.append(1.0 - (u @ v / both if both > 0 else 0.0))
        if len(items) < 2:
            assert np.isnan(diversity[user])
        else:
            assert diversity[user] == pytest.approx(np.mean(distances), abs=1e-9)


def test_rating_errors_sum_per_user():
    from engine.metrics import rating_errors

    scores = torch.tensor([[4.0, 2.0], [3.0, 5.0]])
    errors = rating_errors(scores, np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([5.0, 2.0, 3.0]), n_users=2)
    assert list(errors["squared_error"]) == [1.0, 4.0]
    assert list(errors["absolute_error"]) == [1.0, 2.0]
    assert list(errors["rated"]) == [2.0, 1.0]
