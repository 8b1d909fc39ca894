"""The shared negative sampler: every positive once per epoch, seeded, negatives drawn as configured."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.training.sampler as sampler_module
from engine.training import cpu_kernels
from engine.training.sampler import NegativeSampler


def _random_matrix(n_users: int, n_items: int, density: float, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_users, n_items)) < density).astype(np.float32)
    dense[np.arange(n_users), rng.integers(0, n_items, n_users)] = 1.0  # every user has a positive
    return sp.csr_matrix(dense)


def _collect(sampler: NegativeSampler, epoch: int) -> tuple[np.ndarray, ...]:
    parts = list(zip(*sampler.epoch(epoch)))
    return tuple(np.concatenate([t.numpy() for t in column]) for column in parts)


@settings(max_examples=25, deadline=None)
@given(n_users=st.integers(1, 30), n_items=st.integers(2, 40), batch_size=st.integers(1, 64), seed=st.integers(0, 99))
def test_an_epoch_visits_every_training_positive_exactly_once(n_users: int, n_items: int, batch_size: int,
                                                              seed: int) -> None:
    matrix = _random_matrix(n_users, n_items, 0.2, seed)
    sampler = NegativeSampler(matrix, batch_size=batch_size, seed=seed)
    users, positives, negatives, weights = _collect(sampler, 1)
    visited = sorted(zip(users.tolist(), positives.tolist()))
    expected = sorted(zip(*matrix.nonzero()))
    assert visited == [(int(u), int(i)) for u, i in expected]
    assert negatives.shape == (matrix.nnz, 1)
    assert sampler.n_batches() == -(-matrix.nnz // batch_size)


def test_rejection_keeps_users_own_positives_out_of_their_negatives() -> None:
    matrix = _random_matrix(50, 40, 0.3, seed=1)
    sampler = NegativeSampler(matrix, batch_size=100, n_negatives=4, seed=3, reject_positives=True)
    users, _, negatives, _ = _collect(sampler, 1)
    assert not matrix[np.repeat(users, 4), negatives.ravel()].A1.any()


def test_without_rejection_dense_users_do_get_positives_as_negatives() -> None:
    matrix = _random_matrix(50, 40, 0.5, seed=1)
    sampler = NegativeSampler(matrix, batch_size=100, n_negatives=4, seed=3, reject_positives=False)
    users, _, negatives, _ = _collect(sampler, 1)
    assert matrix[np.repeat(users, 4), negatives.ravel()].A1.any()


def test_same_seed_and_epoch_give_identical_batches_and_epochs_differ() -> None:
    matrix = _random_matrix(20, 30, 0.2, seed=5)
    first = _collect(NegativeSampler(matrix, batch_size=16, seed=9), 1)
    again = _collect(NegativeSampler(matrix, batch_size=16, seed=9), 1)
    later = _collect(NegativeSampler(matrix, batch_size=16, seed=9), 2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], later[0])


def test_popularity_sampling_draws_popular_items_more_often_than_uniform() -> None:
    # item 0 is liked by everyone, the other items by one user each
    n_users, n_items = 200, 50
    rows = np.concatenate([np.arange(n_users), np.arange(n_items - 1)])
    cols = np.concatenate([np.zeros(n_users, dtype=int), np.arange(1, n_items)])
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))
    rng = np.random.default_rng(0)
    popular = NegativeSampler(matrix, batch_size=64, kind="popularity", alpha=1.0).draw(rng, 20_000)
    uniform = NegativeSampler(matrix, batch_size=64, kind="uniform").draw(rng, 20_000)
    expected_share = (n_users + 1) / ((n_users + 1) + 2 * (n_items - 1))
    assert abs(np.mean(popular == 0) - expected_share) < 0.02
    assert abs(np.mean(uniform == 0) - 1 / n_items) < 0.01


def test_log_probabilities_are_the_drawing_distribution() -> None:
    matrix = _random_matrix(40, 12, 0.2, seed=4)
    sampler = NegativeSampler(matrix, batch_size=64, kind="popularity", alpha=0.75)
    drawn = np.bincount(sampler.draw(np.random.default_rng(1), 200_000), minlength=12) / 200_000
    probabilities = np.exp(sampler.log_probabilities())
    np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-9)
    np.testing.assert_allclose(drawn, probabilities, atol=0.005)
    popularity = np.asarray((matrix > 0).sum(axis=0)).ravel()
    np.testing.assert_allclose(probabilities, (popularity + 1.0) ** 0.75 / ((popularity + 1.0) ** 0.75).sum())
    uniform = NegativeSampler(matrix, batch_size=64, kind="uniform")
    np.testing.assert_allclose(np.exp(uniform.log_probabilities()), np.full(12, 1 / 12))


def test_positive_weights_travel_with_their_pairs() -> None:
    matrix = sp.csr_matrix(np.array([[0, 2.5, 0], [1.0, 0, 0]], dtype=np.float32))
    users, positives, _, weights = _collect(NegativeSampler(matrix, batch_size=1, seed=0), 1)
    assert {(int(u), int(i), float(w)) for u, i, w in zip(users, positives, weights)} == {(0, 1, 2.5), (1, 0, 1.0)}


@pytest.mark.parametrize("kwargs, message", [
    ({"n_negatives": 0}, "n_negatives"),
    ({"kind": "hard"}, "unknown negative sampling"),
    ({"batch_size": 0}, "batch_size"),
    ({"alpha": -1.0, "kind": "popularity"}, "alpha"),
])
def test_bad_sampler_settings_are_refused_with_the_setting_named(kwargs: dict, message: str) -> None:
    settings_ = {"batch_size": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        NegativeSampler(_random_matrix(5, 5, 0.3, 0), **settings_)


def test_an_empty_training_matrix_is_refused() -> None:
    with pytest.raises(ValueError, match="no positive interactions"):
        NegativeSampler(sp.csr_matrix((3, 4), dtype=np.float32), batch_size=4)


def test_bit_table_row_search_and_sorted_key_positive_lookups_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    matrix = _random_matrix(30, 25, 0.3, seed=2)
    matrix[:, 24] = 0  # a user's last item and an empty column are the binary searches' edges
    matrix[7] = 0
    matrix.eliminate_zeros()
    users, items = np.meshgrid(np.arange(30), np.arange(25), indexing="ij")
    expected = matrix.toarray() > 0
    dense = NegativeSampler(matrix, batch_size=8)
    assert np.array_equal(dense.is_positive(users, items), expected)  # the compiled bit lookup, with numba
    monkeypatch.setattr(sampler_module, "_DENSE_LOOKUP_MAX_CELLS", 0)
    searched = NegativeSampler(matrix, batch_size=8)
    monkeypatch.setattr(cpu_kernels, "available", lambda: False)
    keyed = NegativeSampler(matrix, batch_size=8)
    assert dense._dense_positives is not None and keyed._positive_keys is not None
    assert searched._user_items is not None or not cpu_kernels.numba
    for sampler in (dense, searched, keyed):  # dense: numpy's bit lookup now
        assert np.array_equal(sampler.is_positive(users, items), expected)
