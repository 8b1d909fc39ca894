"""The served catalogue's precomputed parts answer exactly what scoring per request answers: the trained users'
score table (items added while serving included) and the top-k that ranks a row of it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.data.synthetic import generate_synthetic
from engine.serving.catalogue import top_k
from engine.serving.service import ServedRun
from tests.databases import isolated_database
from tests.explore_seed import finished_runs


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> ServedRun:
    with pytest.MonkeyPatch.context() as patch, \
            isolated_database(patch, tmp_path_factory.mktemp("serving-catalogue") / "home"):
        _, (run_id,) = finished_runs(("mapper",), protocol="cold-item", dataset=generate_synthetic(60, 40, 900, seed=5))
        yield ServedRun.load(run_id)


def _live(served: ServedRun, position: int) -> np.ndarray:
    user = str(served.context.data.user_ids[position])
    with torch.inference_mode():
        scores = served.fitted.model.score(served._known_user_query(user, position), served.catalogue_view().query)
    return scores.float().numpy()[0]


def test_the_score_table_holds_what_the_model_scores_per_request_added_items_included(served: ServedRun):
    view = served.catalogue_view()
    assert view.known_scores.shape == (len(served.context.data.user_ids), len(served.catalogue))
    assert len(served.catalogue) > len(served.context.data.item_ids)  # cold items are in the catalogue too
    for position in (0, 17, len(served.context.data.user_ids) - 1):
        np.testing.assert_allclose(view.known_scores[position], _live(served, position), rtol=1e-5, atol=1e-6)
    served.add_item("added-1", {"category": "books", "tags": "eco"})
    grown = served.catalogue_view()
    assert grown.known_scores.shape[1] == len(served.catalogue) and grown.ids[-1] == "added-1"
    np.testing.assert_allclose(grown.known_scores[3], _live(served, 3), rtol=1e-5, atol=1e-6)
    assert served.catalogue_view() is grown  # reused until the catalogue changes again


def test_top_k_ranks_best_first_ties_in_the_seeded_order_and_leaves_out_what_it_must():
    scores = np.asarray([0.5, 2.0, 0.5, -np.inf, np.nan, 3.0, 0.5, 1.0, 0.5], dtype=np.float32)
    order = np.asarray([6, 1, 2, 3, 4, 5, 0, 7])  # the training items (0..7) in their seeded order; 8 was added later
    positions, best = top_k(scores, 4, order)
    assert positions.tolist() == [5, 1, 7, 6] and best.tolist() == [3.0, 2.0, 1.0, 0.5]
    assert top_k(scores, 6, order)[0].tolist() == [5, 1, 7, 6, 2, 0]
    assert top_k(scores, 100, order)[0].tolist() == [5, 1, 7, 6, 2, 0, 8]  # -inf and NaN never returned
    assert top_k(scores, 4, order, excluded=np.asarray([1, 5]))[0].tolist() == [7, 6, 2, 0]
    assert top_k(scores, 3, order, candidates=np.asarray([0, 2, 4, 8]))[0].tolist() == [2, 0, 8]
    assert top_k(scores, 2, np.arange(8), excluded=np.asarray([5]))[0].tolist() == [1, 7]
    assert scores[5] == 3.0 and np.isnan(scores[4])  # the caller's row is left as it was
