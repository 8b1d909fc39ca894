"""The canonical folder reader: ml-100k comes in with the right kinds and feedback; bad folders get clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.data.canonical import read_canonical_folder, read_canonical_result
from engine.data.errors import DataError


def test_ml100k_reads_with_string_ids_inferred_kinds_and_explicit_feedback(ml100k_dir: Path):
    data = read_canonical_folder(ml100k_dir)
    frame = data.interactions
    assert len(frame) == 100_000
    assert frame["user_id"].nunique() == 943 and frame["item_id"].nunique() == 1682
    assert frame["user_id"].dtype == "str" and frame["timestamp"].dtype == "int64"
    assert data.item_kinds == {"title": "text", "year": "numeric", "release_date": "date", "genres": "multi",
                               "imdb_url": "ignore"}
    assert data.user_kinds == {"age": "numeric", "gender": "categorical", "occupation": "categorical",
                               "zip_code": "ignore"}
    assert data.feedback.kind == "explicit" and data.feedback.positive_threshold == 4.0
    assert len(data.items) == 1682 and len(data.users) == 943
    assert data.name == "ml-100k"


def _write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_interactions_without_ratings_default_to_implicit_feedback(tmp_path: Path):
    _write(tmp_path, "interactions.csv", "user_id,item_id\n1,a\n1,b\n2,a\n")
    data = read_canonical_folder(tmp_path)
    assert data.feedback.kind == "implicit"
    assert len(data.positives()) == 3


def test_ratings_on_a_ten_point_scale_get_a_threshold_at_80_percent_of_the_top(tmp_path: Path):
    _write(tmp_path, "interactions.csv", "user_id,item_id,rating\n1,a,10\n1,b,3\n2,a,8\n2,b,7\n")
    data = read_canonical_folder(tmp_path)
    assert data.feedback.positive_threshold == 8.0
    assert sorted(data.positives()["rating"].tolist()) == [8.0, 10.0]


def test_missing_folder_raises_a_data_error_naming_it(tmp_path: Path):
    with pytest.raises(DataError, match="does not exist") as caught:
        read_canonical_folder(tmp_path / "nowhere")
    assert "nowhere" in caught.value.where and caught.value.fix


def test_folder_without_interactions_file_says_which_file_is_needed(tmp_path: Path):
    _write(tmp_path, "items.csv", "item_id,genre\na,x\n")
    with pytest.raises(DataError, match="no interactions.csv"):
        read_canonical_folder(tmp_path)


def test_empty_interactions_file_is_a_data_error(tmp_path: Path):
    _write(tmp_path, "interactions.csv", "")
    with pytest.raises(DataError, match="empty"):
        read_canonical_folder(tmp_path)


def test_attribute_rows_for_unknown_items_are_kept_with_a_warning(tmp_path: Path):
    _write(tmp_path, "interactions.csv", "user_id,item_id\n1,a\n2,b\n")
    _write(tmp_path, "items.csv", "item_id,genre\na,x\nb,y\nc,x\n")
    result = read_canonical_result(tmp_path)
    assert set(result.dataset.items["item_id"]) == {"a", "b", "c"}
    assert any("no interactions" in str(w) and "'c'" in str(w) for w in result.warnings)
