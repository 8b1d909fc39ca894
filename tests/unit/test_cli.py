"""The command line: documented results.json shape, split folders, model listing, and one-line bad-input errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from engine.cli.main import main
from engine.data.synthetic import generate_synthetic
from engine.store.db import session_scope
from engine.store.tables import MetricRow, RunRow
from tests.canonical_folders import write_canonical_folder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A small dataset in the canonical folder layout."""
    dataset = generate_synthetic(n_users=70, n_items=45, n_interactions=1800, seed=2)
    return write_canonical_folder(tmp_path_factory.mktemp("canonical"), dataset.interactions, dataset.items,
                                  dataset.users)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_writes_the_documented_results_and_records_the_runs(data_dir, tmp_path, coldstart_home, capsys):
    out = tmp_path / "results.json"
    code, _, err = run_cli(capsys, "evaluate", "--data", str(data_dir), "--protocol", "cold-item", "--seed", "3",
                           "--models", "random,mostpop", "--k", "5,10", "--out", str(out),
                           "--save-recommendations", str(tmp_path / "recs"))
    assert code == 0, err
    results = json.loads(out.read_text())
    assert results["split"]["protocol"] == "cold-item" and results["split"]["seed"] == 3
    assert len(results["split"]["fingerprint"]) == 64
    random_model = results["models"]["random"]
    assert {"fit_seconds", "eval_seconds", "device", "params", "slices"} <= set(random_model)
    assert set(random_model["slices"]) == {"warm", "cold-item", "cold-item-all", "overall"}
    ndcg = random_model["slices"]["cold-item"]["ndcg@10"]
    assert set(ndcg) == {"mean", "ci", "n_users"} and ndcg["ci"][0] <= ndcg["mean"] <= ndcg["ci"][1]
    assert results["models"]["mostpop"]["slices"]["cold-item"] == {
        "not_applicable": "MostPopular cannot score items it never saw in training (it does not use item attributes)"}
    lists = pd.read_csv(tmp_path / "recs" / "random" / "cold-item.csv")
    assert list(lists.columns) == ["user_id", "item_id", "rank", "score"]
    with session_scope() as session:
        runs = session.scalars(select(RunRow).order_by(RunRow.id)).all()
        assert [(r.model, r.status) for r in runs] == [("random", "done"), ("mostpop", "done")]
        assert session.scalars(select(MetricRow).where(MetricRow.run_id == runs[0].id,
                                                       MetricRow.name == "ndcg@10")).first() is not None
    assert results["recorded"]["run_ids"] == {"random": runs[0].id, "mostpop": runs[1].id}


def test_split_folder_written_by_the_cli_evaluates_on_exactly_that_split(data_dir, tmp_path, coldstart_home, capsys):
    code, printed, err = run_cli(capsys, "split", "--data", str(data_dir), "--protocol", "cold-user", "--seed", "4",
                                 "--split-param", "cold_fraction=0.3", "--out", str(tmp_path / "split"))
    assert code == 0, err
    assert {p.name for p in (tmp_path / "split").iterdir()} == {"train.csv", "valid.csv", "test.csv", "split.json"}
    fingerprint = json.loads((tmp_path / "split" / "split.json").read_text())["fingerprint"]
    assert fingerprint in printed
    code, printed, err = run_cli(capsys, "evaluate", "--data", str(data_dir), "--split-dir", str(tmp_path / "split"),
                                 "--models", "mostpop", "--k", "10")
    assert code == 0, err
    results = json.loads(printed)
    assert results["split"]["fingerprint"] == fingerprint
    assert "ndcg@10" in results["models"]["mostpop"]["slices"]["cold-user"]


def test_models_lists_what_each_model_can_serve(capsys):
    code, printed, _ = run_cli(capsys, "models", "--json")
    assert code == 0
    models = {entry["name"]: entry for entry in json.loads(printed)}
    assert models["random"]["capabilities"]["new_items"] is True
    assert models["mostpop"]["capabilities"]["new_items"] is False
    code, table, _ = run_cli(capsys, "models")
    # the same words as the Train form: MostPopular serves new users without reading their attributes
    line = next(row for row in table.splitlines() if row.startswith("mostpop "))
    assert code == 0 and "new users (without attributes, not personalised)" in line


@pytest.mark.parametrize("argv, reason", [
    (["--models", "nosuchmodel", "--protocol", "warm"], "unknown model 'nosuchmodel'; known models: random"),
    (["--models", "random", "--protocol", "lukewarm"], "unknown protocol 'lukewarm'"),
    (["--models", "random", "--protocol", "warm", "--k", "ten"], "--k 'ten' must be comma-separated"),
    (["--models", "random", "--protocol", "warm", "--param", "als.factors=8"], "not in --models"),
    (["--models", "random", "--protocol", "warm", "--split-param", "cold_fraction"], "must look like key=value"),
    (["--models", "mostpop", "--protocol", "warm", "--param", "mostpop.bogus=1"], "invalid parameters for model"),
    (["--models", "random"], "one of the arguments --protocol --split-dir is required"),
    (["--models", "auto", "--protocol", "warm", "--param", "auto.candidates=contnet,mostpop"],
     "--param auto.candidates=contnet,mostpop: auto cannot compare contnet"),
    (["--models", "deepfm", "--protocol", "warm", "--param", "deepfm.mlp_layers=[64,\"wide\"]"],
     "deepfm.mlp_layers is a list: write a JSON list in quotes, e.g. --param 'deepfm.mlp_layers=[128,64]', or the "
     "values separated by commas, e.g. --param deepfm.mlp_layers=128,64"),
])
def test_bad_input_exits_2_with_a_one_line_reason(data_dir, coldstart_home, capsys, argv, reason):
    code, _, err = run_cli(capsys, "evaluate", "--data", str(data_dir), *argv)
    assert code == 2
    errors = [line for line in err.strip().splitlines() if not line.startswith(("data:", "warning:"))]
    assert len(errors) == 1 and reason in errors[0]


def test_a_list_setting_takes_comma_separated_values_or_a_json_list(data_dir, tmp_path, coldstart_home, capsys):
    for value in ("content,mostpop", '["content", "mostpop"]'):
        out = tmp_path / "results.json"
        code, _, err = run_cli(capsys, "evaluate", "--data", str(data_dir), "--protocol", "cold-item", "--models",
                               "auto", "--param", f"auto.candidates={value}", "--k", "10", "--out", str(out))
        assert code == 0, err
        assert json.loads(out.read_text())["models"]["auto"]["params"]["candidates"] == ["content", "mostpop"]
    with session_scope() as session:
        stored = session.scalars(select(RunRow.params).where(RunRow.model == "auto")).all()
    assert [params["candidates"] for params in stored] == [["content", "mostpop"]] * 2


def test_unreadable_data_and_mismatched_split_files_exit_2(data_dir, tmp_path, coldstart_home, capsys):
    code, _, err = run_cli(capsys, "split", "--data", str(tmp_path / "missing"), "--protocol", "warm",
                           "--out", str(tmp_path / "x"))
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1
    split = tmp_path / "foreign"
    split.mkdir()
    for part in ("train", "valid", "test"):
        pd.DataFrame({"user_id": ["stranger"], "item_id": ["thing"]}).to_csv(split / f"{part}.csv", index=False)
    code, _, err = run_cli(capsys, "evaluate", "--data", str(data_dir), "--split-dir", str(split), "--models", "random")
    assert code == 2 and "do not match the data" in err


def test_help_documents_every_option_and_python_dash_m_works():
    done = subprocess.run([sys.executable, "-m", "engine", "evaluate", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0
    for option in ("--data", "--protocol", "--split-dir", "--seed", "--models", "--param", "--k", "--out",
                   "--save-recommendations", "--device", "--split-param"):
        assert option in done.stdout


@pytest.fixture(scope="module")
def plays_dir(tmp_path_factory) -> Path:
    """A music-site folder: play counts in `rating`, an empty `timestamp` column, items keyed by a `track` column."""
    folder = tmp_path_factory.mktemp("plays")
    dataset = generate_synthetic(n_users=70, n_items=45, n_interactions=1800, seed=4, years=10, feedback="counts")
    dataset.interactions.assign(timestamp="").rename(columns={"rating": "plays"}).to_csv(
        folder / "interactions.csv", index=False)
    dataset.items.rename(columns={"item_id": "track"}).to_csv(folder / "items.csv", index=False)
    return folder


def test_split_reads_counts_maps_columns_and_says_what_it_did(plays_dir, tmp_path, coldstart_home, capsys):
    code, out, err = run_cli(capsys, "split", "--data", str(plays_dir), "--protocol", "cold-item",
                             "--column", "rating=plays", "--items-id", "track", "--item-kind", "price=ignore",
                             "--out", str(tmp_path / "split"))
    assert code == 0, err
    lines = err.strip().splitlines()
    assert "warning: Column 'timestamp' is empty in every row, so the data is read without a timestamp column " \
           "(interactions.csv)." in lines
    assert any(line.startswith("warning: Column 'plays' holds counts (whole numbers from 1 to") for line in lines)
    assert lines[-1].endswith("interactions; implicit feedback, each row weighted by log(1 + count)")
    train = pd.read_csv(tmp_path / "split" / "train.csv")
    assert "weight" in train.columns and train["weight"].max() > 2 and "rating" not in train.columns


def test_feedback_options_override_the_guess(plays_dir, tmp_path, coldstart_home, capsys):
    common = ["split", "--data", str(plays_dir), "--protocol", "warm", "--column", "rating=plays",
              "--items-id", "track", "--out", str(tmp_path / "s")]
    code, _, err = run_cli(capsys, *common, "--feedback", "explicit", "--positive-threshold", "20")
    assert code == 0 and err.strip().endswith("explicit ratings, positive from 20")
    code, _, err = run_cli(capsys, *common, "--feedback", "implicit")
    assert code == 0 and err.strip().endswith("each row weighted by log(1 + count)")  # the count guess still holds
    code, _, err = run_cli(capsys, *common, "--feedback", "implicit", "--count-weight", "none",
                           "--positive-threshold", "3")
    assert code == 0 and err.strip().endswith("interactions; implicit feedback, counts from 3")


@pytest.mark.parametrize("argv, reason", [
    (["--column", "stars=plays"], "--column names the role 'stars'"),
    (["--column", "rating=plays", "--items-id", "track", "--item-kind", "price=money"], "names the kind 'money'"),
    (["--column", "rating=plays", "--items-id", "trak"], "The id column 'trak' is not in the file"),
    (["--column", "rating=plays", "--items-id", "title"], "ids in items.csv is an item id of the interactions"),
    (["--count-weight", "log"], "need --feedback"),
    (["--feedback", "explicit", "--count-weight", "log"], "--count-weight applies to implicit feedback only"),
])
def test_bad_reading_options_exit_2_with_a_one_line_reason(plays_dir, tmp_path, coldstart_home, capsys, argv, reason):
    code, _, err = run_cli(capsys, "split", "--data", str(plays_dir), "--protocol", "warm", *argv,
                           "--out", str(tmp_path / "s"))
    assert code == 2 and reason in err
    assert [line for line in err.strip().splitlines() if line.startswith("error:")] == [err.strip().splitlines()[-1]]


def test_a_model_that_fails_is_reported_and_the_others_results_are_still_written(tmp_path, coldstart_home, capsys):
    """Content cannot fit on data without an items table; MostPopular, asked after it, still runs and is written
    to results.json, both runs are recorded, and the exit code says a model failed."""
    dataset = generate_synthetic(n_users=60, n_items=40, n_interactions=1500, seed=4)
    folder = write_canonical_folder(tmp_path / "no-items", dataset.interactions)
    out = tmp_path / "results.json"
    code, _, err = run_cli(capsys, "evaluate", "--data", str(folder), "--protocol", "warm", "--models",
                           "content,mostpop", "--out", str(out))
    assert code == 1
    assert "error: model content failed: Content needs item attributes" in err
    assert "1 of 2 models failed (content); results of mostpop written" in err
    assert set(json.loads(out.read_text())["models"]) == {"mostpop"}
    with session_scope() as session:
        runs = session.scalars(select(RunRow).order_by(RunRow.id)).all()
        assert [(r.model, r.status) for r in runs] == [("content", "failed"), ("mostpop", "done")]


def test_bad_settings_of_a_later_model_stop_before_any_model_runs(data_dir, tmp_path, coldstart_home, capsys):
    out = tmp_path / "results.json"
    code, _, err = run_cli(capsys, "evaluate", "--data", str(data_dir), "--protocol", "warm", "--models",
                           "random,mostpop", "--param", "mostpop.bogus=1", "--out", str(out))
    assert code == 2 and "invalid parameters for model 'mostpop'" in err
    assert not out.exists()
    with session_scope() as session:
        assert session.scalars(select(RunRow)).first() is None
