"""The typed results document keeps the stable results.json shape of the README, key for key.

The fixtures were written by `python -m engine evaluate` before the document became typed (a few-shot split with
ratings; a tuned cold-item run with slices a model could not serve), so reading and writing them back pins the
shape scripts rely on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.metrics.document import (MetricSummary, NotApplicable, NotServedError, ResultsDocument, RunResults,
                                     TuningRecord)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize("name", ["results_few_shot.json", "results_tuned.json"])
def test_a_stored_results_json_reads_and_writes_back_identically(name, tmp_path):
    path = FIXTURES / name
    document = ResultsDocument.read(path)
    assert document.to_json() == json.loads(path.read_text())
    document.write(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == json.dumps(json.loads(path.read_text()), indent=1)


def test_the_parts_are_typed_and_a_refused_slice_says_why():
    document = ResultsDocument.read(FIXTURES / "results_tuned.json")
    mostpop, itemknn = document.models["mostpop"], document.models["itemknn"]
    assert isinstance(mostpop.slices["cold-item"], NotApplicable)
    assert mostpop.refused()["cold-item"].startswith("MostPopular cannot score items")
    assert [name for name, _ in mostpop.served()] == ["warm"]
    summary = itemknn.metric("warm", "ndcg@5")
    assert isinstance(summary, MetricSummary) and summary.ci[0] <= summary.mean <= summary.ci[1]
    assert isinstance(itemknn.tuning, TuningRecord) and len(itemknn.tuning.trials) == itemknn.tuning.n_trials == 2
    with pytest.raises(NotServedError, match="not applicable: MostPopular cannot score items"):
        mostpop.metric("cold-item", "ndcg@5")
    with pytest.raises(NotServedError, match="has no metric 'ndcg@99'"):
        itemknn.metric("warm", "ndcg@99")


def test_a_run_entry_round_trips_as_the_database_stores_it():
    entry = json.loads((FIXTURES / "results_few_shot.json").read_text())["models"]["svdpp"]
    typed = RunResults.from_json(entry)
    assert typed.to_json() == entry and "tuning" not in typed.to_json()
    assert typed.metric("few-shot-user-k3", "rmse").mean > 0
    assert RunResults.from_json({}) is None


def test_the_tuning_record_alone_reads_as_the_whole_entry_gives_it():
    models = json.loads((FIXTURES / "results_tuned.json").read_text())["models"]
    assert RunResults.tuning_of(models["itemknn"]) == RunResults.from_json(models["itemknn"]).tuning
    assert RunResults.tuning_of(models["itemknn"]).n_trials == 2
    untuned = json.loads((FIXTURES / "results_few_shot.json").read_text())["models"]["svdpp"]
    assert RunResults.tuning_of(untuned) is None and RunResults.tuning_of(None) is None
