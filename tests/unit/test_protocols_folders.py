"""Split folders: export and import give back the same split, and foreign folders get candidates from the files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.data.dataset import Dataset
from engine.data.synthetic import generate_synthetic
from engine.protocols import ProtocolError, check_split_matches, read_split_folder, write_split_folder
from engine.runs.protocol_catalog import make_split


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate_synthetic(n_users=120, n_items=70, n_interactions=3500, seed=8)


@pytest.mark.parametrize("protocol", ["cold-item", "few-shot-user", "temporal"])
@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_exported_split_imports_as_the_same_split(dataset, tmp_path, protocol, file_format):
    split = make_split(dataset, protocol, seed=2)
    write_split_folder(split, tmp_path, file_format)
    again = read_split_folder(tmp_path)
    assert again.fingerprint == split.fingerprint
    assert [s.name for s in again.test] == [s.name for s in split.test]
    for original, imported in zip(split.test, again.test):
        assert list(imported.candidate_items) == list(original.candidate_items)
        pd.testing.assert_frame_equal(imported.truth, original.truth, check_dtype=False)


def test_export_writes_the_documented_files_and_metadata(dataset, tmp_path):
    split = make_split(dataset, "few-shot-item", seed=2)
    write_split_folder(split, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"train.csv", "valid.csv", "test.csv", "valid_revealed.csv",
                                                    "test_revealed.csv", "split.json"}
    assert list(pd.read_csv(tmp_path / "test.csv").columns) == ["user_id", "item_id", "rating", "timestamp"]
    meta = json.loads((tmp_path / "split.json").read_text())
    assert meta["protocol"] == "few-shot-item" and meta["seed"] == 2 and meta["fingerprint"] == split.fingerprint
    assert meta["cold_items"] == split.cold_items and meta["shots"] == [1, 2, 3, 5, 10]


def test_folder_from_another_tool_derives_cold_items_from_the_files(tmp_path):
    pd.DataFrame({"user_id": ["a", "a", "b", "b", "c"], "item_id": ["1", "2", "1", "3", "2"]}).to_csv(
        tmp_path / "train.csv", index=False)
    pd.DataFrame({"user_id": ["a"], "item_id": ["3"]}).to_csv(tmp_path / "valid.csv", index=False)
    pd.DataFrame({"user_id": ["c", "b", "d"], "item_id": ["9", "2", "1"]}).to_csv(tmp_path / "test.csv", index=False)
    split = read_split_folder(tmp_path)
    slices = {s.name: s for s in split.test}
    assert set(slices) == {"warm", "cold-user", "cold-item", "cold-item-all", "overall"}
    assert list(slices["cold-item"].candidate_items) == ["9"]
    assert list(slices["warm"].candidate_items) == ["1", "2", "3"]
    assert list(slices["cold-user"].truth["user_id"]) == ["d"]
    assert split.protocol == "imported"


@pytest.mark.parametrize("breakage, message", [
    (lambda folder: (folder / "test.csv").unlink(), "has no test.csv"),
    (lambda folder: (folder / "train.csv").write_text("user,item\n1,2\n"), "lacks column"),
    (lambda folder: (folder / "split.json").write_text("{not json"), "not valid JSON"),
])
def test_broken_split_folders_are_rejected_with_the_reason(dataset, tmp_path, breakage, message):
    write_split_folder(make_split(dataset, "warm", seed=1), tmp_path)
    breakage(tmp_path)
    with pytest.raises(ProtocolError, match=message):
        read_split_folder(tmp_path)


def test_split_files_for_other_data_do_not_match(dataset, tmp_path):
    split = make_split(dataset, "warm", seed=1)
    other = generate_synthetic(n_users=30, n_items=20, n_interactions=300, seed=1)
    renamed = Dataset(other.interactions.assign(user_id="x" + other.interactions["user_id"]), feedback=other.feedback)
    check_split_matches(split, dataset)
    with pytest.raises(ProtocolError, match="do not match the data"):
        check_split_matches(split, renamed)
    assert np.all(split.train["user_id"].isin(dataset.interactions["user_id"]))
