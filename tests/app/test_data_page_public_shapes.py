"""The Data page on files shaped as public data sets ship them (benchmarks/public_shapes.py): what a user uploads,
how the page maps it, and what is saved."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from benchmarks import public_shapes
from engine.data.catalog import list_datasets, load_dataset

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


def _open() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60).switch_page("pages/data.py").run()


def _upload(app: AppTest, key: str, path: Path) -> None:
    next(u for u in app.file_uploader if u.key == key).upload(path.name, path.read_bytes(), "application/octet-stream")


def _save(app: AppTest, name: str) -> None:
    app.text_input(key="upload-name").set_value(name)
    next(b for b in app.button if b.label == "Save dataset").click().run()
    assert not app.exception and not [e.value for e in app.error]


def test_steam_hours_keep_every_played_row_as_a_positive(coldstart_home, tmp_path: Path):
    """The page's smallest count that signals interest was 1, which dropped every game played under an hour."""
    plays, _ = public_shapes.steam(tmp_path / "steam")
    app = _open()
    _upload(app, "upload-interactions", plays)
    app.run()
    assert [app.selectbox(key=f"map-role-{role}").value for role in ("user", "item", "rating", "event")] == [
        "column_1", "column_2", "column_4", "column_3"]
    assert app.radio(key="upload-feedback").value == "implicit"
    assert app.number_input(key="upload-count-threshold").value == 0.1
    _save(app, "steam")
    dataset = load_dataset(list_datasets()[0].id)
    assert len(dataset.positives()) == len(dataset.interactions)
    assert (dataset.interactions["rating"] < 1).any()


def test_amazon_json_lines_upload_with_their_metadata(coldstart_home, tmp_path: Path):
    reviews, meta = public_shapes.amazon(tmp_path / "amazon")
    app = _open()
    _upload(app, "upload-interactions", reviews)
    _upload(app, "upload-items", meta)
    app.run()
    assert any("JSON" in e.label for e in app.expander)
    assert [app.selectbox(key=f"map-role-{role}").value for role in ("user", "item", "rating", "timestamp")] == [
        "reviewerID", "asin", "overall", "unixReviewTime"]
    assert app.selectbox(key="items-id").value == "asin"
    assert app.selectbox(key="items-kind-categories").value == "multi"
    assert app.selectbox(key="items-kind-price").value == "numeric"
    _save(app, "books")
    stored = list_datasets()[0]
    assert stored.feedback.kind == "explicit" and stored.item_kinds["categories"] == "multi"


def test_movielens_latest_movies_and_tags_upload_together_as_item_tables_mapped_one_by_one(coldstart_home,
                                                                                          tmp_path: Path):
    ratings, movies, tags, _ = public_shapes.movielens_latest(tmp_path / "ml")
    app = _open()
    _upload(app, "upload-interactions", ratings)
    _upload(app, "upload-items", movies)
    _upload(app, "upload-items", tags)  # a second file in the same uploader
    app.run()
    assert not app.exception and not [e.value for e in app.error]
    assert (app.selectbox(key="items-id").value, app.selectbox(key="items-2-id").value) == ("movieId", "movieId")
    assert app.selectbox(key="items-kind-genres").value == "multi"
    assert app.selectbox(key="items-2-kind-tag").value == "multi"
    assert app.selectbox(key="items-2-kind-userId").value == "ignore"  # who tagged a movie is who watched it
    assert any("tags.csv: joined with the other item tables on the item id" in c.value for c in app.caption)
    assert any("'userId' holds user ids" in c.value for c in app.caption)
    _save(app, "ml latest")
    dataset = load_dataset(list_datasets()[0].id)
    assert {"genres", "tag", "title"} <= set(dataset.item_kinds)
    assert dataset.items["tag"].notna().sum() == pd.read_csv(tags)["movieId"].nunique()
    assert dataset.items["genres"].notna().all()
