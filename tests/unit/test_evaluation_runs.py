"""Runs end to end: fit and evaluate a registered model, record it, and store experiments all-or-nothing."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest
from sqlalchemy import select

from engine.data.catalog import save_dataset
from engine.data.synthetic import generate_synthetic
from engine.protocols import ProtocolError, read_split_folder
from engine.runs.protocol_catalog import make_split
from engine.runs.experiments import (ExperimentError, create_experiment, export_split, list_experiments, load_split,
                                     split_zip)
from engine.runs.results import PER_USER_FILE, record_run_result
from engine.runs.runner import RunInputError, fit_and_evaluate
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.tables import ExperimentRow, MetricRow, RunRow


@pytest.fixture
def stored_dataset(coldstart_home):
    dataset = generate_synthetic(n_users=80, n_items=50, n_interactions=2000, seed=5)
    return dataset, save_dataset(dataset, "synthetic small", "synthetic")


def test_fit_and_evaluate_returns_the_documented_results_entry(stored_dataset, tmp_path):
    dataset, _ = stored_dataset
    split = make_split(dataset, "cold-item", seed=1)
    result = fit_and_evaluate(dataset, split, "mostpop", {}, seed=3, ks=(10, 20), device="cpu",
                              save_recommendations=tmp_path)
    entry = result.results.to_json()
    assert set(entry) >= {"fit_seconds", "eval_seconds", "device", "params", "slices", "seed", "validation"}
    assert entry["device"] == "cpu" and entry["validation"] == {"metric": "ndcg@20", "slice": "warm"}
    assert set(entry["slices"]["warm"]["ndcg@20"]) == {"mean", "ci", "n_users"}
    assert "not_applicable" in entry["slices"]["cold-item"]
    lists = pd.read_csv(tmp_path / "mostpop" / "warm.csv")
    assert list(lists.columns) == ["user_id", "item_id", "rank", "score"] and lists["rank"].max() == 20
    assert not (tmp_path / "mostpop" / "cold-item.csv").exists()


def test_invalid_model_parameters_are_reported_by_name(stored_dataset):
    dataset, _ = stored_dataset
    split = make_split(dataset, "warm", seed=1)
    with pytest.raises(RunInputError, match="invalid parameters for model 'mostpop'"):
        fit_and_evaluate(dataset, split, "mostpop", {"no_such_knob": 1}, seed=0, device="cpu")


def test_recorded_run_has_metric_rows_and_per_user_values(stored_dataset, coldstart_home):
    dataset, dataset_id = stored_dataset
    experiment_id = create_experiment(dataset_id, "warm", {}, seed=1, name="warm 1")
    result = fit_and_evaluate(dataset, load_split(experiment_id), "mostpop", {}, seed=0, ks=(10,), device="cpu")
    with session_scope() as session:
        run = RunRow(experiment_id=experiment_id, model="mostpop", params={}, seed=0, status="running")
        session.add(run)
        session.flush()
        record_run_result(session, run, result)
        record_run_result(session, run, result)  # recording twice keeps one set of rows
        run_id = run.id
    with session_scope() as session:
        run = session.get(RunRow, run_id)
        rows = session.scalars(select(MetricRow).where(MetricRow.run_id == run_id)).all()
        per_user = pd.read_parquet(coldstart_home / run.artifact_path / PER_USER_FILE)
        assert run.results["slices"]["warm"]["ndcg@10"]["mean"] == pytest.approx(
            next(r.mean for r in rows if r.slice == "warm" and r.name == "ndcg@10"))
        assert len([r for r in rows if r.slice == "warm" and r.name == "ndcg@10"]) == 1
        assert run.fit_seconds is not None and run.device == "cpu"
    assert set(per_user["slice"]) == {"warm", "overall"}
    assert per_user["ndcg@10"].notna().all()


def test_experiment_stores_the_split_and_its_sizes_and_exports_it(stored_dataset, tmp_path):
    dataset, dataset_id = stored_dataset
    experiment_id = create_experiment(dataset_id, "cold-user", {"cold_fraction": 0.25}, seed=4, name="cu")
    direct = make_split(dataset, "cold-user", seed=4, params={"cold_fraction": 0.25})
    stored = load_split(experiment_id)
    assert stored.fingerprint == direct.fingerprint
    info = list_experiments(dataset_id)[0]
    assert info.id == experiment_id and info.fingerprint == direct.fingerprint
    assert info.sizes["test"]["cold-user"]["users"] == direct.test[[s.name for s in direct.test].index(
        "cold-user")].truth["user_id"].nunique()
    assert read_split_folder(export_split(experiment_id, tmp_path / "out")).fingerprint == direct.fingerprint
    names = zipfile.ZipFile(io.BytesIO(split_zip(experiment_id))).namelist()
    assert set(names) == {"train.csv", "valid.csv", "test.csv", "split.json"}


def test_a_failed_experiment_leaves_nothing_behind(stored_dataset):
    _, dataset_id = stored_dataset
    with pytest.raises(ProtocolError, match="unknown protocol"):
        create_experiment(dataset_id, "coldest", {}, seed=0)
    with session_scope() as session:
        assert session.scalars(select(ExperimentRow)).first() is None
    splits = get_settings().splits_dir
    assert not splits.exists() or not any(splits.iterdir())
    with pytest.raises(ExperimentError, match="does not exist"):
        load_split(999)
