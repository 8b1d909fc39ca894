"""The Data page: uploads are read, mapped and saved; samples load in one click; bad input shows a specific error
and stores nothing; datasets are listed, profiled, renamed and deleted."""

from __future__ import annotations

from pathlib import Path

import io
import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from engine.data.catalog import list_datasets, save_dataset
from engine.data.synthetic import generate_synthetic

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


def _open() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60).switch_page("pages/data.py").run()


def _stored_folders(home: Path) -> list[str]:
    root = home / "datasets"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def _csv_tables() -> dict[str, bytes]:
    data = generate_synthetic(60, 40, 700, seed=3)
    return {"interactions": data.interactions.to_csv(index=False).encode(),
            "items": data.items.to_csv(index=False).encode(),
            "users": data.users.to_csv(index=False).encode()}


def _uploader(app: AppTest, key: str):
    return next(u for u in app.file_uploader if u.key == key)


def _button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


def _errors(app: AppTest) -> list[str]:
    return [e.value for e in app.error]


def test_empty_catalogue_says_how_to_start(coldstart_home):
    app = _open()
    assert not app.exception
    assert any("No datasets yet" in i.value for i in app.info)


def test_uploading_three_tables_maps_columns_and_saves_the_dataset_with_its_profile(coldstart_home):
    tables = _csv_tables()
    app = _open()
    for side in ("interactions", "items", "users"):
        _uploader(app, f"upload-{side}").upload(f"{side}.csv", tables[side], "text/csv")
    app.run()
    assert not app.exception and not _errors(app)
    assert app.selectbox(key="map-role-user").value == "user_id"
    assert app.selectbox(key="map-role-timestamp").value == "timestamp"
    assert app.selectbox(key="items-kind-tags").value == "multi"
    assert app.selectbox(key="users-kind-occupation").value == "categorical"
    app.text_input(key="upload-name").set_value("shop upload")
    _button(app, "Save dataset").click().run()
    assert not app.exception and not _errors(app)
    assert any("Saved 'shop upload'" in s.value for s in app.success)
    (stored,) = list_datasets()
    assert (stored.name, stored.source, stored.n_interactions) == ("shop upload", "upload", 700)
    assert app.session_state["dataset_id"] == stored.id
    assert any(h.value == "Profile of shop upload" for h in app.subheader)


def _zip(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "user_id,item_id\n1,a\n2,b\n")
    return buffer.getvalue()


UNREADABLE_UPLOADS = {
    "empty": ("ratings.csv", b"", "is empty"),
    "header only": ("ratings.csv", b"user_id,item_id,rating\n", "header line but no data rows"),
    "binary": ("ratings.csv", bytes(range(256)) * 20, "looks like a binary file"),
    "zip with two tables": ("both.zip", _zip("a.csv", "b.csv"), "holds 2 tables; it must hold exactly one"),
    "zip without a table": ("none.zip", _zip("notes.md"), "holds no table"),
    "shell characters in the name": ("x;rm -rf ~.csv", b"user_id,item_id\n1,a\n", "characters that are not allowed"),
    "over the size limit": ("big.csv", b"user_id,item_id\n" + b"123456,abcdef\n" * 80_000,
                            "over the 1 MB upload limit"),
}


@pytest.mark.parametrize("case", list(UNREADABLE_UPLOADS))
def test_unreadable_uploads_show_a_specific_error_and_offer_nothing_to_save(coldstart_home, monkeypatch, case):
    name, content, message = UNREADABLE_UPLOADS[case]
    monkeypatch.setenv("COLDSTART_MAX_UPLOAD_MB", "1")
    app = _open()
    _uploader(app, "upload-interactions").upload(name, content, "application/octet-stream")
    app.run()
    assert not app.exception
    assert any(message in e for e in _errors(app)), _errors(app)
    assert "Save dataset" not in [b.label for b in app.button]
    assert list_datasets() == [] and _stored_folders(coldstart_home) == []


def test_bad_ratings_show_the_rows_at_save_and_store_nothing(coldstart_home):
    app = _open()
    _uploader(app, "upload-interactions").upload(
        "ratings.csv", b"user_id,item_id,rating\n1,a,5\n2,b,great\n3,c,4\n", "text/csv")
    app.run()
    _button(app, "Save dataset").click().run()
    assert not app.exception
    assert any("not numbers: 'great' (row 3)" in e for e in _errors(app))
    assert list_datasets() == [] and _stored_folders(coldstart_home) == []


def test_a_wrong_delimiter_is_explained_at_save(coldstart_home):
    app = _open()
    _uploader(app, "upload-interactions").upload("ratings.csv", b"user_id:item_id\n1:a\n2:b\n", "text/csv")
    app.run()
    _button(app, "Save dataset").click().run()
    assert any("single column" in e and "delimiter" in e for e in _errors(app))
    assert list_datasets() == []


def test_duplicate_rows_are_merged_and_reported_after_saving(coldstart_home):
    app = _open()
    _uploader(app, "upload-interactions").upload(
        "ratings.csv", b"user_id,item_id,rating\n1,a,5\n1,a,2\n2,b,4\n3,a,1\n", "text/csv")
    app.run()
    app.radio(key="upload-duplicates").set_value("max")
    _button(app, "Save dataset").click().run()
    assert not _errors(app)
    assert any("1 duplicate (user, item) rows were merged" in w.value for w in app.warning)
    (stored,) = list_datasets()
    assert stored.n_interactions == 3


def test_duplicate_choices_follow_the_columns_of_the_upload(coldstart_home):
    """A bare (user, item) log was offered 'sum the ratings' and 'keep the strongest row', which did nothing
    different; a count column was offered 'sum the ratings'. A bare log is offered to count its rows (listens,
    clicks), which the saved dataset keeps as counts."""
    app = _open()
    _uploader(app, "upload-interactions").upload("log.csv", b"user_id,item_id\n1,a\n1,a\n2,b\n3,a\n", "text/csv")
    app.run()
    assert list(app.radio(key="upload-duplicates").options) == [
        "keep the last row of the file", "count the rows: a pair weighs log(1 + its rows)"]
    app.radio(key="upload-duplicates").set_value("count")
    _button(app, "Save dataset").click().run()
    assert not _errors(app)
    (stored,) = list_datasets()
    assert stored.n_interactions == 3 and stored.feedback.count_weight == "log"
    plays = b"user_id,item_id,plays\n" + b"".join(f"{u},{i},{u + i}\n".encode() for u in range(9) for i in range(3))
    app = _open()
    _uploader(app, "upload-interactions").upload("plays.csv", plays, "text/csv")
    app.run()
    app.radio(key="upload-feedback").set_value("implicit").run()
    assert list(app.radio(key="upload-duplicates").options) == [
        "keep the last row of the file", "sum the counts", "keep the strongest row"]


def test_a_replaced_file_gets_its_columns_mapped_afresh(coldstart_home):
    """A file without ratings replaced by one with a 'stars' column kept Rating at '(none)' from the first file,
    and the ratings were saved away without a word."""
    app = _open()
    _uploader(app, "upload-interactions").upload("log.csv", b"user_id,item_id\n1,a\n2,b\n3,a\n", "text/csv")
    app.run()
    assert app.selectbox(key="map-role-rating").value == "(none)"
    stars = b"customer,product,stars\n" + b"".join(f"{u},{i},{u % 5 + 1}\n".encode() for u in range(9) for i in range(3))
    _uploader(app, "upload-interactions").upload("stars.csv", stars, "text/csv")
    app.run()
    assert [app.selectbox(key=f"map-role-{role}").value for role in ("user", "item", "rating")] == [
        "customer", "product", "stars"]
    assert app.radio(key="upload-feedback").value == "explicit"


def test_a_tiny_synthetic_sample_is_one_click_and_a_name_clash_is_refused(coldstart_home):
    app = _open()
    app.selectbox(key="synthetic-size").set_value("tiny (50 users, 500 interactions)")
    app.text_input(key="synthetic-name").set_value("tiny shop")
    _button(app, "Create synthetic dataset").click().run()
    assert not app.exception and not _errors(app)
    assert [d.name for d in list_datasets()] == ["tiny shop"]
    folders = _stored_folders(coldstart_home)
    _button(app, "Create synthetic dataset").click().run()
    assert any("named 'tiny shop' already exists" in e for e in _errors(app))
    assert [d.name for d in list_datasets()] == ["tiny shop"] and _stored_folders(coldstart_home) == folders


def test_a_tagged_bookmarks_sample_is_created_from_its_kind_and_saved_without_ratings(coldstart_home):
    app = _open()
    app.selectbox(key="synthetic-kind").set_value("tags")
    app.selectbox(key="synthetic-size").set_value("tiny (50 users, 500 interactions)").run()
    # the name is left empty: it follows the kind and the size chosen after the page opened
    _button(app, "Create synthetic dataset").click().run()
    assert not app.exception and not _errors(app)
    (stored,) = list_datasets()
    assert stored.name == "tags-tiny-seed0" and stored.n_interactions == 500
    assert stored.feedback.kind == "implicit"


def test_loading_ml100k_from_its_folder_profiles_it(coldstart_home, ml100k_dir):
    app = _open()
    app.text_input(key="folder-path").set_value(str(ml100k_dir))
    app.text_input(key="folder-name").set_value("MovieLens 100K")
    _button(app, "Load folder").click().run()
    assert not app.exception and not _errors(app)
    (stored,) = list_datasets()
    assert (stored.n_users, stored.n_items, stored.n_interactions) == (943, 1682, 100_000)
    assert any(m.label == "Users" and m.value == "943" for m in app.metric)


def test_a_folder_that_does_not_exist_is_reported(coldstart_home, tmp_path):
    app = _open()
    app.text_input(key="folder-path").set_value(str(tmp_path / "missing"))
    app.text_input(key="folder-name").set_value("x")
    _button(app, "Load folder").click().run()
    assert any("does not exist" in e for e in _errors(app))
    assert list_datasets() == []


def test_datasets_can_be_renamed_and_deleted_after_confirmation(coldstart_home):
    dataset_id = save_dataset(generate_synthetic(30, 20, 200), "old name", "synthetic")
    app = _open()
    app.text_input(key=f"rename-{dataset_id}").set_value("new name")
    _button(app, "Rename").click().run()
    assert [d.name for d in list_datasets()] == ["new name"]
    assert _button(app, "Delete").disabled
    app.checkbox(key=f"delete-confirm-{dataset_id}").check().run()
    _button(app, "Delete").click().run()
    assert not app.exception
    assert list_datasets() == [] and _stored_folders(coldstart_home) == []


SAVE_TIME_ERRORS = {
    "no user column": (b"person,item_id,rating\n1,a,5\n2,b,3\n", "No column is mapped to the user id"),
    "empty ids": (b"user_id,item_id,rating\n1,a,5\n,b,3\n3,c,4\n", "empty user id"),
    "missing ratings": (b"user_id,item_id,rating\n1,a,5\n2,b,\n3,c,4\n", "have no rating"),
    "a single user": (b"user_id,item_id,rating\n1,a,5\n1,b,3\n", "only 1 user"),
}


@pytest.mark.parametrize("case", list(SAVE_TIME_ERRORS))
def test_unusable_interactions_are_refused_at_save_with_the_reason(coldstart_home, case):
    content, message = SAVE_TIME_ERRORS[case]
    app = _open()
    _uploader(app, "upload-interactions").upload("ratings.csv", content, "text/csv")
    app.run()
    _button(app, "Save dataset").click().run()
    assert not app.exception
    assert any(message in e for e in _errors(app)), _errors(app)
    assert list_datasets() == [] and _stored_folders(coldstart_home) == []


def test_latin1_upload_is_read_as_latin1_and_attribute_problems_are_warnings(coldstart_home):
    app = _open()
    _uploader(app, "upload-interactions").upload(
        "ratings.csv", "user_id,item_id,rating\nJos\xe9,a,5\nRen\xe9e,b,3\n".encode("latin-1"), "text/csv")
    _uploader(app, "upload-items").upload("items.csv", b"item_id,genre\na,x\na,y\nb,x\nz,y\n", "text/csv")
    app.run()
    assert any("latin-1" in e.label for e in app.expander)
    _button(app, "Save dataset").click().run()
    assert not _errors(app)
    warnings = " ".join(w.value for w in app.warning)
    assert "repeat an id" in warnings and "no interactions (e.g. 'z')" in warnings
    (stored,) = list_datasets()
    assert stored.n_users == 2


def test_play_counts_are_guessed_implicit_on_the_page_and_the_guess_can_be_overridden(coldstart_home):
    plays = generate_synthetic(60, 40, 700, seed=5, feedback="counts").interactions.rename(columns={"rating": "plays"})
    app = _open()
    _uploader(app, "upload-interactions").upload("plays.csv", plays.to_csv(index=False).encode(), "text/csv")
    app.run()
    assert app.selectbox(key="map-role-rating").value == "plays"
    assert any("Column 'plays' holds counts (whole numbers from 1 to" in i.value and "log(1 + count)" in i.value
               for i in app.info)
    assert app.radio(key="upload-feedback").value == "implicit"
    assert app.radio(key="upload-count-weight").value == "log"
    app.radio(key="upload-count-weight").set_value("capped")
    app.number_input(key="upload-count-threshold").set_value(2.0)
    app.text_input(key="upload-name").set_value("plays")
    _button(app, "Save dataset").click().run()
    assert not app.exception and not _errors(app)
    (stored,) = list_datasets()
    assert stored.feedback.kind == "implicit" and stored.feedback.count_weight == "capped"
    assert stored.feedback.positive_threshold == 2.0 and stored.feedback.count_cap >= 2
    assert any("implicit feedback, each row weighted by its count capped at" in s.value for s in app.success)


def test_a_dataset_spanning_ten_years_profiles_by_month_on_the_page(coldstart_home):
    save_dataset(generate_synthetic(80, 50, 2_000, seed=1, years=10), "ten years", "synthetic")
    app = _open()
    assert not app.exception and not _errors(app)
    assert any(h.value == "Profile of ten years" for h in app.subheader)
