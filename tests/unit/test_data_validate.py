"""Validation turns mapped tables into a Dataset, or explains exactly which rows are wrong and how to fix them."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.data.columns import RoleMapping, detect_roles
from engine.data.dataset import Feedback
from engine.data.errors import DataError
from engine.data.read import read_table
from engine.data.validate import AttributeInput, IntakeOptions, build_dataset

ROLES = RoleMapping(user="user_id", item="item_id", rating="rating")


def _table(text: str) -> pd.DataFrame:
    return read_table(text.encode("utf-8"), "t.csv", max_mb=1).frame


def test_a_one_column_table_names_the_separator_it_seems_to_use():
    """MovieLens 1M's ratings.dat ('1::1193::5::978300760') and space-separated logs were told only to 'save it with
    commas, tabs or semicolons'; the advice now names '::' or spaces and how to convert them."""
    for text, named in (("1::1193::5::978300760\n1::661::3::978302109\n", "'::'"),
                        ("user item rating\nu1 i1 4\nu2 i2 5\n", "spaces")):
        frame = _table(text)
        with pytest.raises(DataError, match="single column") as caught:
            build_dataset(frame, detect_roles(frame))
        assert named in caught.value.fix and "comma" in caught.value.fix


def test_detected_roles_follow_common_header_names():
    frame = _table("customerId,Product ID,Stars,created_at,action\n1,a,5,2024-01-01,view\n")
    roles = detect_roles(frame)
    assert roles == RoleMapping("customerId", "Product ID", "Stars", "created_at", "action")


def test_a_table_with_one_column_points_at_the_delimiter():
    frame = _table("user_id:item_id:rating\n1:a:5\n2:b:3\n")
    with pytest.raises(DataError, match="single column") as caught:
        build_dataset(frame, detect_roles(frame))
    assert "delimiter" in str(caught.value)


@pytest.mark.parametrize("role", ["user", "item"])
def test_missing_user_or_item_column_lists_the_columns_there_are(role: str):
    frame = _table("person,item_id,rating\n1,a,5\n" if role == "user" else "user_id,thing,rating\n1,a,5\n")
    with pytest.raises(DataError, match=f"No column is mapped to the {role} id") as caught:
        build_dataset(frame, detect_roles(frame))
    assert "columns:" in caught.value.where


def test_a_mapping_to_a_column_that_is_not_there_is_rejected():
    frame = _table("user_id,item_id\n1,a\n2,b\n")
    with pytest.raises(DataError, match="'stars' is not in the file"):
        build_dataset(frame, RoleMapping("user_id", "item_id", rating="stars"))


def test_non_numeric_ratings_name_the_rows_and_an_example():
    frame = _table("user_id,item_id,rating\n1,a,5\n2,b,good\n3,c,4\n4,d,five\n"
                   + "".join(f"{k},x{k},bad\n" for k in range(5, 12)))
    with pytest.raises(DataError) as caught:
        build_dataset(frame, ROLES)
    assert caught.value.what == ("Column 'rating' has 9 ratings that are not numbers: 'good' (row 3), 'five' (row 5), "
                                 "'bad' (row 6) and 6 more")


def test_missing_ratings_name_the_rows():
    frame = _table("user_id,item_id,rating\n1,a,5\n2,b,\n3,c,4\n")
    with pytest.raises(DataError, match="1 rows have no rating") as caught:
        build_dataset(frame, ROLES)
    assert "row 3" in caught.value.where and "implicit" in caught.value.fix


def test_empty_ids_name_the_rows():
    frame = _table("user_id,item_id,rating\n1,a,5\n,b,3\n3,,4\n")
    with pytest.raises(DataError, match="empty user id") as caught:
        build_dataset(frame, ROLES)
    assert "row 3" in caught.value.where
    with pytest.raises(DataError, match="empty item id"):
        build_dataset(frame.iloc[[0, 2]].reset_index(drop=True), ROLES)


def test_a_single_user_or_item_is_not_enough_to_recommend():
    with pytest.raises(DataError, match="only 1 user"):
        build_dataset(_table("user_id,item_id,rating\n1,a,5\n1,b,3\n"), ROLES)
    with pytest.raises(DataError, match="only 1 item"):
        build_dataset(_table("user_id,item_id,rating\n1,a,5\n2,a,3\n"), ROLES)


DUPLICATES = "user_id,item_id,rating,timestamp\n1,a,2,300\n1,a,5,100\n2,b,4,50\n1,a,3,200\n"


@pytest.mark.parametrize("policy,rating", [("last", 2.0), ("max", 5.0), ("sum", 10.0)])
def test_duplicate_pairs_are_merged_by_the_chosen_policy_with_a_warning(policy: str, rating: float):
    roles = RoleMapping("user_id", "item_id", "rating", "timestamp")
    result = build_dataset(_table(DUPLICATES), roles, IntakeOptions(duplicates=policy))
    frame = result.dataset.interactions
    assert len(frame) == 2
    assert frame.loc[frame["user_id"] == "1", "rating"].item() == rating
    (warning,) = result.warnings
    assert "2 duplicate (user, item) rows" in warning.what and "rows 2, 3, 5" in warning.where


def test_implicit_events_use_their_weights_and_duplicates_keep_the_strongest_event():
    frame = _table("user_id,item_id,event\n1,a,view\n1,a,purchase\n1,a,view\n2,b,view\n2,a,click\n")
    roles = RoleMapping("user_id", "item_id", event="event")
    feedback = Feedback("implicit", None, {"view": 0.0, "purchase": 3.0})
    result = build_dataset(frame, roles, IntakeOptions(feedback=feedback, duplicates="max"))
    positives = result.dataset.positives()
    assert positives[["user_id", "item_id", "weight"]].values.tolist() == [["1", "a", 3.0]]
    assert any("click" in str(w) for w in result.warnings)


def test_explicit_feedback_without_ratings_is_refused():
    with pytest.raises(DataError, match="needs ratings, but no rating column is mapped"):
        build_dataset(_table("user_id,item_id\n1,a\n2,b\n"), RoleMapping("user_id", "item_id"),
                      IntakeOptions(feedback=Feedback("explicit", 4.0)))


def test_a_threshold_no_rating_reaches_is_refused_with_the_rating_range():
    with pytest.raises(DataError, match="No rating reaches the positive threshold 9") as caught:
        build_dataset(_table("user_id,item_id,rating\n1,a,5\n2,b,3\n"), ROLES,
                      IntakeOptions(feedback=Feedback("explicit", 9.0)))
    assert "1 to 5" not in caught.value.where and "3 to 5" in caught.value.where


def test_iso_dates_and_millisecond_times_become_unix_seconds():
    roles = RoleMapping("user_id", "item_id", timestamp="when")
    iso = build_dataset(_table("user_id,item_id,when\n1,a,2024-01-01\n2,b,2024-01-02T00:00:10Z\n"), roles)
    assert iso.dataset.interactions["timestamp"].tolist() == [1704067200, 1704153610]
    millis = build_dataset(_table("user_id,item_id,when\n1,a,1704067200000\n2,b,1704067201500\n"), roles)
    assert millis.dataset.interactions["timestamp"].tolist() == [1704067200, 1704067201]


def test_unreadable_timestamps_name_the_rows():
    with pytest.raises(DataError) as caught:
        build_dataset(_table("user_id,item_id,ts\n1,a,2024-01-01\n2,b,yesterday\n"),
                      RoleMapping("user_id", "item_id", timestamp="ts"))
    assert caught.value.what == "Column 'ts' has 1 values that are neither unix seconds nor dates: 'yesterday' (row 3)"


def test_latin1_upload_keeps_its_accented_ids():
    text = "user_id,item_id,rating\nJos\xe9,Caf\xe9,5\nRen\xe9e,Cr\xeape,4\n"
    frame = read_table(text.encode("latin-1"), "r.csv", max_mb=1).frame
    result = build_dataset(frame, ROLES)
    assert set(result.dataset.interactions["user_id"]) == {"José", "Renée"}


def test_attribute_tables_with_duplicate_or_unknown_ids_are_accepted_with_warnings():
    interactions = _table("user_id,item_id,rating\n1,a,5\n2,b,3\n")
    items = _table("item_id,genre,price\na,x,1.5\na,y,2\nb,x,oops\nz,y,3\n")
    result = build_dataset(interactions, ROLES,
                           items=AttributeInput(items, "item_id", {"price": "numeric"}, label="items.csv"))
    table = result.dataset.items
    assert table["item_id"].tolist() == ["a", "b", "z"]
    assert table.loc[0, "genre"] == "x"  # the first row of a repeated id wins
    assert result.dataset.item_kinds == {"genre": "categorical", "price": "numeric"}
    assert pd.isna(table.loc[1, "price"])
    text = " ".join(str(w) for w in result.warnings)
    assert "repeat an id" in text and "row 3" in text
    assert "no interactions (e.g. 'z')" in text
    assert "1 values of numeric attribute 'price' are not numbers and count as missing: 'oops' (row 4)" in text


def test_ids_of_another_entity_that_items_share_are_a_feature_and_ids_unique_to_a_row_are_ignored():
    """A track's artist is what a new track is best known by; a code unique to each track would only memorise it."""
    n = 12
    interactions = _table("user_id,item_id,rating\n" + "".join(f"u{k % 3},t{k},5\n" for k in range(n)))
    tracks = _table("item_id,artistId,album_ids,isbn_id,zip,label_id\n" + "".join(
        f"t{k},{k % 4},a{k % 3}|a{(k + 1) % 3},{1000 + k},{k % 2},{'L0' if k < 4 else f'L{k}'}\n" for k in range(n)))
    result = build_dataset(interactions, ROLES, items=AttributeInput(tracks, "item_id"))
    # label_id: 9 distinct values in 12 rows, but a third of the tracks share one label, which the encoder keeps
    assert result.dataset.item_kinds == {"artistId": "categorical", "album_ids": "multi", "isbn_id": "ignore",
                                         "zip": "ignore", "label_id": "categorical"}


def test_authors_listed_by_their_ids_in_json_records_are_a_feature_not_an_amount():
    """Goodreads' books list authors as {"author_id": "604031", "role": ""}: read as '604031', the column was
    guessed numeric, as if author 604031 were more of something than author 18."""
    books = "".join(f'{{"book_id": "b{k}", "num_pages": "{100 + 7 * k}", "authors": '
                    f'[{{"author_id": "{600_000 + k % 5}", "role": ""}}]}}\n' for k in range(20))
    frame = read_table(books.encode(), "goodreads_books.json").frame
    assert list(frame.columns) == ["book_id", "num_pages", "authors.author_id"]
    interactions = _table("user_id,item_id,rating\n" + "".join(f"u{k % 4},b{k},4\n" for k in range(20)))
    result = build_dataset(interactions, ROLES, items=AttributeInput(frame, "book_id"))
    assert result.dataset.item_kinds == {"num_pages": "numeric", "authors.author_id": "categorical"}


def test_an_attribute_table_keyed_by_another_column_than_its_item_id_column_is_refused_with_how_to_fix_it():
    interactions = _table("user_id,item_id,rating\n1,a,5\n2,b,3\n")
    items = _table("movie,item_id,genre\na,a,x\nb,b,y\n")
    with pytest.raises(DataError, match="has a column 'item_id' besides its id column 'movie'") as caught:
        build_dataset(interactions, ROLES, items=AttributeInput(items, "movie"))
    assert "Pick 'item_id' as the id column" in str(caught.value)
    assert build_dataset(interactions, ROLES, items=AttributeInput(items, "item_id")).dataset.item_kinds == {
        "movie": "categorical", "genre": "categorical"}


def test_a_long_table_of_numeric_codes_alone_keeps_them_as_values():
    """Beside a tag column a number measures its row (a weight); alone it is the value (a category number)."""
    interactions = _table("user_id,item_id,rating\n" + "".join(f"u{k % 3},i{k},5\n" for k in range(12)))
    categories = _table("item_id,category\n" + "".join(f"i{k},{100 + k % 5}\ni{k},{200 + k % 3}\n" for k in range(12)))
    result = build_dataset(interactions, ROLES, items=AttributeInput(categories, "item_id"))
    assert result.dataset.item_kinds == {"category": "multi"}
    assert result.dataset.items.set_index("item_id").loc["i1", "category"] == "101|201"


def test_attribute_kinds_can_be_overridden_but_only_for_real_columns_and_kinds():
    interactions = _table("user_id,item_id,rating\n1,a,5\n2,b,3\n")
    users = _table("user_id,age,zip\n1,20,123\n2,30,456\n")
    result = build_dataset(interactions, ROLES, users=AttributeInput(users, "user_id", {"age": "categorical"}))
    assert result.dataset.user_kinds == {"age": "categorical", "zip": "ignore"}
    with pytest.raises(DataError, match="'height' is not a column"):
        build_dataset(interactions, ROLES, users=AttributeInput(users, "user_id", {"height": "numeric"}))
    with pytest.raises(DataError, match="Unknown attribute kind 'number'"):
        build_dataset(interactions, ROLES, users=AttributeInput(users, "user_id", {"age": "number"}))


def test_date_attributes_are_inferred_kept_as_text_and_unreadable_ones_warned_about():
    interactions = _table("user_id,item_id,rating\n" + "".join(f"{i % 2},{i},5\n" for i in range(12)))
    dated = "".join(f"{i},1995-01-{i + 1:02d}\n" for i in range(11))
    items = _table("item_id,released\n" + dated + "11,someday\n")
    result = build_dataset(interactions, ROLES, items=AttributeInput(items, "item_id", label="items.csv"))
    assert result.dataset.item_kinds == {"released": "date"}
    assert result.dataset.items["released"].tolist()[-2:] == ["1995-01-11", "someday"]
    assert "1 values of date attribute 'released' are not dates and count as missing: 'someday' (row 13)" in " ".join(map(str, result.warnings))


def test_an_attribute_table_without_its_id_column_is_refused():
    interactions = _table("user_id,item_id,rating\n1,a,5\n2,b,3\n")
    with pytest.raises(DataError, match="id column 'item_id' is not in the file"):
        build_dataset(interactions, ROLES, items=AttributeInput(_table("movie,genre\na,x\n"), "item_id"))
