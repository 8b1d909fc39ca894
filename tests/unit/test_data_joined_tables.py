"""Several attribute tables of one side, joined on the id: public data sets ship a catalogue and its tags apart
(MovieLens' movies.csv and tags.csv, HetRec's bookmarks.dat and bookmark_tags.dat)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.data.canonical import read_canonical_result
from engine.data.cell_values import weighted_values
from engine.data.columns import detect_roles
from engine.data.errors import DataError
from engine.data.validate import AttributeInput, build_dataset
from tests.canonical_folders import write_canonical_folder

RATINGS = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u3", "u3"], "item_id": ["a", "b", "a", "c", "b", "c"],
                        "rating": [4.0, 5.0, 3.0, 2.0, 4.0, 1.0]})
CATALOGUE = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "title": ["Alpha", "Beta", "Gamma", "Delta"],
                          "genres": ["Drama|War", "Comedy", "Drama", "Comedy|Drama"]})
TAGS = pd.DataFrame({"movie": ["a", "a", "b", "b"] * 5, "tag": ["dark", "war", "funny", "light"] * 5,
                     "title": ["x", "y", "x", "y"] * 5})


def _built(*tables: AttributeInput):
    return build_dataset(RATINGS, detect_roles(RATINGS), items=list(tables))


def test_two_item_tables_are_joined_on_the_item_and_an_id_missing_from_one_has_no_values_there() -> None:
    result = _built(AttributeInput(CATALOGUE, "item_id", label="movies.csv"),
                    AttributeInput(TAGS, "movie", label="tags.csv"))
    items = result.dataset.items.set_index("item_id")
    assert list(items.index) == ["a", "b", "c", "d"]
    assert items.loc["a", "genres"] == "Drama|War" and items.loc["a", "tag"] == "dark|war"
    assert pd.isna(items.loc["c", "tag"]) and items.loc["c", "genres"] == "Drama"
    assert result.dataset.item_kinds["genres"] == "multi" and result.dataset.item_kinds["tag"] == "multi"
    said = " ".join(map(str, result.warnings))
    assert "2 of the 3 items in the interactions (67%) have rows in tags.csv; the others have none of its" in said
    assert "seen without attributes" not in said  # item c has its genres from movies.csv


def test_a_column_named_as_one_of_an_earlier_table_is_told_apart_by_its_file_name() -> None:
    result = _built(AttributeInput(CATALOGUE, "item_id", label="movies.csv"),
                    AttributeInput(TAGS, "movie", label="tags.csv.gz", kinds={"title": "categorical"}))
    items = result.dataset.items.set_index("item_id")
    assert items.loc["a", "title"] == "Alpha" and items.loc["a", "tags.title"] == "x|y"
    assert result.dataset.item_kinds["tags.title"] == "categorical"
    assert any("'title' is named 'tags.title': an earlier attribute table has a column of the same name" in str(w)
               for w in result.warnings)


def test_a_second_table_keyed_by_the_wrong_column_is_refused_naming_that_file() -> None:
    with pytest.raises(DataError, match="None of the .* ids in tags.csv is an item id") as raised:
        _built(AttributeInput(CATALOGUE, "item_id", label="movies.csv"), AttributeInput(TAGS, "tag", label="tags.csv"))
    assert raised.value.where.startswith("tags.csv")


def test_the_users_who_gave_an_items_tags_are_not_an_attribute_of_the_item_by_default() -> None:
    """MovieLens' tags.csv names each tag's giver: gathered per movie it lists users who rated it, which a
    new-item evaluation must not be told."""
    given = TAGS.assign(userId=["u1", "u2", "u3", "u1"] * 5)
    result = _built(AttributeInput(given, "movie", label="tags.csv"))
    assert result.dataset.item_kinds["userId"] == "ignore" and result.dataset.item_kinds["tag"] == "multi"
    assert any("'userId' holds user ids" in str(w) for w in result.warnings)
    kept = _built(AttributeInput(given, "movie", label="tags.csv", kinds={"userId": "multi"}))
    assert kept.dataset.item_kinds["userId"] == "multi"
    assert not any("holds user ids" in str(w) for w in kept.warnings)


def test_a_canonical_folder_joins_items_csv_with_its_items_name_csv_files(tmp_path: Path) -> None:
    folder = write_canonical_folder(tmp_path / "data", RATINGS, CATALOGUE)
    TAGS.rename(columns={"movie": "item_id"}).drop(columns="title").to_csv(folder / "items.tags.csv", index=False)
    dataset = read_canonical_result(folder).dataset
    assert set(dataset.item_kinds) == {"title", "genres", "tag"}
    assert dataset.items.set_index("item_id").loc["b", "tag"] == "funny|light"


def _goodbooks() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """goodbooks-10k's layout: ratings by book_id (1..n); books.csv lists book_id beside goodreads_book_id, by which
    book_tags.csv counts each book's shelvings; tags.csv names the tag ids. The two id systems overlap in numbers."""
    ratings = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 3], "book_id": [1, 2, 1, 3, 2, 3], "rating": [5, 4, 3, 5, 4, 2]})
    books = pd.DataFrame({"book_id": [1, 2, 3], "goodreads_book_id": [2, 5107, 960], "title": ["A", "B", "C"]})
    book_tags = pd.DataFrame({"goodreads_book_id": [2, 2, 5107, 5107, 960, 960, 3, 3] * 3,
                              "tag_id": [11, 12, 11, 13, 12, 13, 11, 12] * 3, "count": [90, 5, 40, 7, 3, 60, 8, 8] * 3})
    tags = pd.DataFrame({"tag_id": [1, 2, 3, 11, 12, 13], "tag_name": ["a", "b", "c", "to-read", "fantasy", "owned"]})
    return ratings, books, book_tags, tags


def test_a_table_keyed_by_another_id_an_earlier_table_lists_is_joined_through_it() -> None:
    ratings, books, book_tags, _ = _goodbooks()
    result = build_dataset(ratings, detect_roles(ratings), items=[
        AttributeInput(books, "book_id", label="books.csv"),
        AttributeInput(book_tags, "goodreads_book_id", label="book_tags.csv")])
    tags = result.dataset.items.set_index("item_id")["tag_id"]
    # book 2 is goodreads' 5107; goodreads' book 2 is our book 1, not our book 2
    assert weighted_values(tags["1"]) == {"11": 270.0, "12": 15.0}
    assert weighted_values(tags["2"]) == {"11": 120.0, "13": 21.0}
    said = " ".join(map(str, result.warnings))
    assert ("book_tags.csv is keyed by 'goodreads_book_id', which books.csv lists beside its item ids ('book_id')"
            in said)
    assert "6 rows whose 'goodreads_book_id' books.csv does not list once were skipped" in said


def test_a_table_keyed_by_another_entitys_id_is_flagged_though_its_numbers_overlap_the_items() -> None:
    ratings, books, _, tags = _goodbooks()
    result = build_dataset(ratings, detect_roles(ratings), items=[
        AttributeInput(books, "book_id", label="books.csv"), AttributeInput(tags, "tag_id", label="tags.csv")])
    assert any("tags.csv is keyed by 'tag_id', named unlike the interactions' item column 'book_id'; 3 of its 6 ids "
               "are item ids there" in str(w) for w in result.warnings)
    alone = build_dataset(ratings, detect_roles(ratings), items=AttributeInput(books, "book_id", label="books.csv"))
    assert not any("named unlike" in str(w) for w in alone.warnings)
