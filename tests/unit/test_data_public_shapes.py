"""Files shaped as well-known public data sets ship them (benchmarks/public_shapes.py), through the Data page's calls:
`read_streamed`, `detect_roles`, `infer_attribute_kinds`, `build_dataset`. Each test is one quirk a real file has."""

from __future__ import annotations

import ast
import gzip
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import public_shapes
from engine.cli.main import main
from engine.data.cell_values import multi_value_rows, weighted_values
from engine.data.columns import RoleMapping, detect_roles, guess_id_column, infer_attribute_kinds
from engine.data.errors import DataError
from engine.data.features import encode_attributes
from engine.data.read import RawTable, read_path, read_table
from engine.data.stream import read_streamed
from engine.data.validate import AttributeInput, IntakeOptions, attribute_kinds, build_dataset


def _upload(path: Path, tmp_path: Path) -> RawTable:
    """The table as the Data page reads an upload."""
    with path.open("rb") as source:
        return read_streamed(source, path.name, tmp_path / "uploads")


def test_amazon_json_lines_are_read_as_records_with_ids_kept_and_lists_split(tmp_path: Path):
    reviews, meta = public_shapes.amazon(tmp_path / "amazon")
    raw = _upload(reviews, tmp_path)
    assert raw.format == "json" and "JSON" in raw.describe() and "gzip" in raw.describe()
    assert len(raw.frame) == 4000 and {"reviewerID", "asin", "overall", "unixReviewTime"} <= set(raw.frame.columns)
    assert raw.frame["asin"].str.startswith("0").any()  # ids with leading zeros stay text
    items = _upload(meta, tmp_path)
    books = items.frame.set_index("asin")
    assert books["categories"].str.contains("|", regex=False).all()  # [["Books", "Mystery"]] -> Books|Mystery
    assert "salesRank.Books" in items.frame.columns  # a nested object becomes columns
    roles = detect_roles(raw.frame)
    assert (roles.user, roles.item) == ("reviewerID", "asin")
    result = build_dataset(raw.frame, roles, IntakeOptions(), items=AttributeInput(items.frame, "asin"))
    assert result.dataset.item_kinds["categories"] == "multi"
    assert set(result.dataset.interactions["item_id"]) <= set(items.frame["asin"])


def test_python_literal_lines_are_read_and_a_broken_line_is_named(tmp_path: Path):
    text = "{'asin': '0000031852', 'categories': [['Books'], ['Kindle Store', 'Mystery']], 'price': None}\n" \
           '{"asin": "0000031853", "categories": [["Books"]], "price": 3.5, "rank": 12}\n'
    raw = read_table(gzip.compress(text.encode()), "meta.json.gz")
    assert raw.frame["asin"].tolist() == ["0000031852", "0000031853"]
    assert raw.frame["categories"].tolist() == ["Books|Kindle Store|Mystery", "Books"]
    assert raw.frame["price"].isna().tolist() == [True, False]
    assert raw.frame["rank"].tolist() == [None, "12"]  # not 12.0 for a column missing in some records
    broken = text + '{"asin": "0000031854", "title": "cut in half\n'
    with pytest.raises(DataError, match=r"cannot be read as JSON lines") as caught:
        read_table(broken.encode(), "meta.jsonl")
    assert "line 3" in caught.value.where


def test_steam_hours_played_are_implicit_amounts_not_ratings_positive_from_80_percent_of_the_top(tmp_path: Path):
    """Hours played (0.1 to thousands, most rows 1.0 for a purchase) were read as explicit ratings positive from
    80% of the longest play: two positives out of thousands of rows."""
    plays, _ = public_shapes.steam(tmp_path / "steam")
    raw = _upload(plays, tmp_path)
    roles = RoleMapping("column_1", "column_2", "column_4", event="column_3")
    result = build_dataset(raw.frame, roles, IntakeOptions(duplicates="sum"), label=raw.name,
                           first_row=raw.first_row)
    dataset = result.dataset
    assert dataset.feedback.kind == "implicit" and dataset.feedback.count_weight == "log"
    assert len(dataset.positives()) == len(dataset.interactions)
    said = " ".join(map(str, result.warnings))
    assert "Column 'column_4' holds amounts such as hours or quantities (from 0.1 to" in said


def test_headerless_lastfm_plays_map_artist_names_not_the_mbids_with_blanks_and_the_counts(tmp_path: Path):
    """Last.fm 360K: user sha1, artist MBID (blank in some rows), artist name, plays; by position the item was the
    MBID column and saving failed on its blanks, and the plays were left unmapped."""
    plays, _ = public_shapes.lastfm(tmp_path / "lastfm")
    raw = _upload(plays, tmp_path)
    assert not raw.has_header and raw.frame["column_2"].isna().any()
    roles = detect_roles(raw.frame)
    assert (roles.user, roles.item, roles.rating, roles.timestamp) == ("column_1", "column_3", "column_4", None)
    dataset = build_dataset(raw.frame, roles, IntakeOptions(duplicates="sum")).dataset
    assert dataset.feedback.count_weight == "log" and dataset.interactions["rating"].max() >= 419_157


def test_named_columns_of_public_sets_take_their_roles(tmp_path: Path):
    """'Book-Rating' (Book-Crossing), 'overall' and 'unixReviewTime' (Amazon), 'bookmarkID' (HetRec Delicious),
    and Steam's headerless purchase/play column with hours after it."""
    ratings, books, _ = public_shapes.book_crossing(tmp_path / "bx")
    bx = detect_roles(_upload(ratings, tmp_path).frame)
    assert (bx.user, bx.item, bx.rating) == ("User-ID", "ISBN", "Book-Rating")
    isbns = _upload(books, tmp_path)
    assert isbns.encoding == "latin-1" and "0002005018" in set(isbns.frame["ISBN"])
    amazon = detect_roles(_upload(public_shapes.amazon(tmp_path / "amazon")[0], tmp_path).frame)
    assert (amazon.rating, amazon.timestamp) == ("overall", "unixReviewTime")
    delicious = detect_roles(_upload(public_shapes.bookmarks(tmp_path / "delicious")[0], tmp_path).frame)
    assert (delicious.user, delicious.item, delicious.rating) == ("userID", "bookmarkID", None)
    steam = detect_roles(_upload(public_shapes.steam(tmp_path / "steam")[0], tmp_path).frame)
    assert (steam.user, steam.item, steam.event, steam.rating, steam.timestamp) == (
        "column_1", "column_2", "column_3", "column_4", None)  # the all-zero last column is no time


def test_a_headerless_table_whose_first_line_holds_urls_and_long_texts_keeps_that_line(tmp_path: Path):
    """MIND's news.tsv has no header and no numbers: its first news item was taken for the header."""
    _, news = public_shapes.mind(tmp_path / "mind")
    raw = _upload(news, tmp_path)
    assert not raw.has_header and len(raw.frame) == 400 and raw.frame["column_1"].str.match(r"^N\d+$").all()


def test_steam_game_attributes_read_list_notations_dates_and_prices(tmp_path: Path):
    """Tags as "['Action', 'Indie']" were one long text, genres 'Action, Indie' one category, 'Nov 1, 2000' text
    and '$9.99' / 'Free to Play' prices an ignored column."""
    plays, games = public_shapes.steam(tmp_path / "steam")
    raw, meta = _upload(plays, tmp_path), _upload(games, tmp_path)
    roles = RoleMapping("column_1", "column_2", "column_4", event="column_3")
    result = build_dataset(raw.frame, roles, IntakeOptions(), items=AttributeInput(meta.frame, "name", label=meta.name))
    dataset = result.dataset
    assert {k: dataset.item_kinds[k] for k in ("release_date", "price", "genres", "popular_tags")} == {
        "release_date": "date", "price": "numeric", "genres": "multi", "popular_tags": "multi"}
    items = dataset.items.set_index("item_id")
    source = meta.frame.drop_duplicates("name").set_index("name")
    first = source.index[0]
    assert items.loc[first, "popular_tags"] == "|".join(ast.literal_eval(source.loc[first, "popular_tags"]))
    assert items.loc[first, "genres"] == source.loc[first, "genres"].replace(", ", "|")
    free = source.index[source["price"].isin(["Free", "Free to Play"])]
    assert (items.loc[free, "price"] == 0).all() and len(free) > 0
    dollars = source.index[source["price"].str.startswith("$")][0]
    assert items.loc[dollars, "price"] == float(source.loc[dollars, "price"][1:])
    said = " ".join(map(str, result.warnings))
    assert "values of numeric attribute 'price' are numbers with a unit or 'Free' and are read as numbers" in said
    assert "'Coming soon'" in said  # the one release date that is no date is named
    features = encode_attributes(dataset.items, "item_id", dataset.item_kinds)
    assert "popular_tags=Indie" in features.columns and "genres=Action" in features.columns


def test_lastfm_signup_dates_written_with_month_names_are_dates_and_no_header(tmp_path: Path):
    """'Feb 1, 2007' was text; and when the first user's age was blank, no cell of the first line was a number, so
    that user became the header ('Unnamed: 2', 'May 28, 2009', ...)."""
    _, profile = public_shapes.lastfm(tmp_path / "lastfm")
    lines = profile.read_text().splitlines()
    first = lines[0].split("\t")
    lines[0] = "\t".join(first[:2] + [""] + first[3:])
    profile.write_text("\n".join(lines) + "\n")
    raw = _upload(profile, tmp_path)
    assert not raw.has_header and len(raw.frame) == len(lines)
    kinds = infer_attribute_kinds(raw.frame, "column_1")
    assert kinds == {"column_2": "categorical", "column_3": "numeric", "column_4": "categorical", "column_5": "date"}


def test_mind_impression_lists_mapped_as_items_are_refused_with_how_to_split_them(tmp_path: Path):
    """MIND's behaviors.tsv holds the shown news of an impression in one cell ('N123-1 N456-0'): mapped as the item
    column, each list became one item and the dataset saved."""
    behaviors, _ = public_shapes.mind(tmp_path / "mind")
    raw = _upload(behaviors, tmp_path)
    with pytest.raises(DataError, match=r"Column 'column_5' holds several item ids in one cell: 'N\d+-[01] N") \
            as caught:
        build_dataset(raw.frame, RoleMapping("column_2", "column_5"), label=raw.name, first_row=raw.first_row)
    assert "1,497 more" in caught.value.what and ".explode('column_5')" in caught.value.fix
    steam = _upload(public_shapes.steam(tmp_path / "steam")[0], tmp_path)  # names with spaces and digits pass
    assert build_dataset(steam.frame, RoleMapping("column_1", "column_2")).dataset.interactions["item_id"].str.contains(
        " ").any()


def test_book_crossing_zero_ratings_are_explained(tmp_path: Path):
    """Book-Crossing's 0 means 'read, not rated' (most rows); read as explicit ratings, they were the worst rating
    in RMSE without a word."""
    ratings, _, _ = public_shapes.book_crossing(tmp_path / "bx")
    raw = _upload(ratings, tmp_path)
    result = build_dataset(raw.frame, detect_roles(raw.frame), label=raw.name, first_row=raw.first_row)
    assert result.dataset.feedback.kind == "explicit" and result.dataset.feedback.positive_threshold == 8
    zeros = [str(w) for w in result.warnings if "are 0 on a scale of 1 to 10" in str(w)]
    assert len(zeros) == 1 and "ratings in column 'Book-Rating'" in zeros[0] and "Choose implicit feedback" in zeros[0]
    few = raw.frame.iloc[:50].assign(**{"Book-Rating": ["0"] * 5 + ["4"] * 45})
    stars = build_dataset(few, detect_roles(few))  # a few zeros on a scale: no warning
    assert not any("are 0 on a scale" in str(w) for w in stars.warnings)


def test_a_long_tag_table_is_gathered_per_item_not_cut_to_its_first_tag(tmp_path: Path):
    """HetRec Delicious' bookmark_tags.dat has a row per (bookmark, tag): every tag but each bookmark's first was
    dropped as 'rows repeat an id already seen'."""
    triples, _, tags = public_shapes.bookmarks(tmp_path / "delicious")
    raw, table = _upload(triples, tmp_path), _upload(tags, tmp_path)
    result = build_dataset(raw.frame, detect_roles(raw.frame), items=AttributeInput(table.frame, "bookmarkID",
                                                                                     label=table.name))
    items = result.dataset.items.set_index("item_id")
    assigned = table.frame.groupby("bookmarkID", sort=False)["tagID"].agg(list)
    assert {k: sorted(weighted_values(v)) for k, v in items["tagID"].items()} == assigned.map(sorted).to_dict()
    # each tag weighs the number of users who gave it (tagWeight), heaviest first
    given = pd.to_numeric(table.frame["tagWeight"]).groupby([table.frame["bookmarkID"], table.frame["tagID"]]).sum()
    assert {(b, t): w for b, cell in items["tagID"].items() for t, w in weighted_values(cell).items()} == \
        given.to_dict()
    # a tag's weight measures its row: gathered, '9|8' would read as values 9 and 8 shared by unrelated bookmarks
    assert result.dataset.item_kinds == {"tagID": "multi", "tagWeight": "ignore"}
    assert attribute_kinds(table.frame, "bookmarkID", "item") == result.dataset.item_kinds  # as the Data page pre-sets
    said = " ".join(map(str, result.warnings))
    assert f"{len(table.frame):,} rows describe {len(assigned):,} ids, several rows per id" in said
    assert "'tagWeight' measures each row" in said and "'tagID' measure" not in said
    assert "how often each value of 'tagID' was given is kept, as its summed 'tagWeight'" in said
    assert "rows repeat an id already seen" not in said
    plays, games = public_shapes.steam(tmp_path / "steam")  # a wide table with a few repeated names keeps first rows
    kept = build_dataset(_upload(plays, tmp_path).frame, RoleMapping("column_1", "column_2"),
                         items=AttributeInput(_upload(games, tmp_path).frame, "name"))
    assert any("rows repeat an id already seen" in str(w) for w in kept.warnings)


def test_a_tab_separated_profile_saved_as_csv_is_split_on_its_tabs_not_on_the_comma_of_its_dates(tmp_path: Path):
    """Every line of a Last.fm profile has one comma ('Feb 1, 2007'), so a comma split every line alike into 2
    columns and won over the tabs' 5 when the file was named .csv (as the canonical folder names it)."""
    _, profile = public_shapes.lastfm(tmp_path / "lastfm")
    renamed = profile.rename(profile.with_name("users.csv"))
    raw = read_path(renamed)
    assert raw.delimiter == "\t" and raw.frame.shape[1] == 5


def test_the_cli_reads_a_public_folder_as_published_guessing_and_saying_its_columns(tmp_path: Path, coldstart_home,
                                                                                     capsys):
    """Book-Crossing's files renamed into the canonical layout stopped at 'No column is mapped to the user id'
    (columns User-ID, ISBN, Book-Rating) where the Data page guessed them."""
    ratings, books, users = public_shapes.book_crossing(tmp_path / "bx")
    for path, name in ((ratings, "interactions.csv"), (books, "items.csv"), (users, "users.csv")):
        path.rename(path.with_name(name))
    code = main(["split", "--data", str(tmp_path / "bx"), "--protocol", "cold-item", "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert ("warning: Columns not named as in the canonical layout were guessed: user 'User-ID', item 'ISBN', rating "
            "'Book-Rating', items.csv keyed by 'ISBN', users.csv keyed by 'User-ID'") in err
    assert err.strip().splitlines()[-1].endswith("explicit ratings, positive from 8")
    code = main(["split", "--data", str(tmp_path / "bx"), "--protocol", "warm", "--column", "rating=none",
                 "--out", str(tmp_path / "s2")])  # a role named on the command line is not guessed
    assert code == 0 and capsys.readouterr().err.strip().endswith("interactions; implicit feedback")


def test_numbers_with_a_placeholder_for_unknown_stay_numeric_and_the_placeholders_are_named(tmp_path: Path):
    """Book-Crossing's ages written '\\N' (as IMDb's files write unknowns) instead of NULL made the column a
    category of 70 ages and '\\N'."""
    ratings, _, users = public_shapes.book_crossing(tmp_path / "bx")
    users.write_bytes(users.read_bytes().replace(b"NULL", b"\\N"))
    raw, table = _upload(ratings, tmp_path), _upload(users, tmp_path)
    result = build_dataset(raw.frame, detect_roles(raw.frame),
                           users=AttributeInput(table.frame, "User-ID", label=table.name, first_row=table.first_row))
    assert result.dataset.user_kinds["Age"] == "numeric"
    assert result.dataset.users["Age"].notna().mean() > 0.5
    said = " ".join(map(str, result.warnings))
    assert "values of numeric attribute 'Age' are not numbers and count as missing: '\\N' (row" in said


def test_a_stray_quote_in_a_file_without_quoting_does_not_swallow_the_lines_after_it(tmp_path: Path):
    """An artist named '"Heroes' opened a quoted cell that ran to the next quote: dozens of plays became one
    artist name holding tabs and line breaks, without a word."""
    plays, _ = public_shapes.lastfm(tmp_path / "lastfm")
    lines = plays.read_text(encoding="utf-8").splitlines()
    for raw in (_upload(plays, tmp_path), read_path(plays)):
        assert len(raw.frame) == len(lines)
        assert '"Heroes' in set(raw.frame["column_3"]) and not raw.frame["column_3"].str.contains("\n").any()
    quoted = b'id\ttext\tn\n1\t"line one\nline two"\t5\n2\tplain\t6\n'  # a multi-line cell quoted on purpose
    (tmp_path / "notes.tsv").write_bytes(quoted)
    for raw in (_upload(tmp_path / "notes.tsv", tmp_path), read_table(quoted, "notes.tsv")):
        assert raw.frame["text"].tolist() == ["line one\nline two", "plain"]


def test_a_listening_log_without_counts_maps_its_time_column_and_can_count_repeated_listens(tmp_path: Path):
    """Last.fm 1K (user, ISO time, artist MBID, artist, track MBID, track; a row per listen): by position the item
    was the time column; and repeated listens were merged into one, each artist weighing the same."""
    (log,) = public_shapes.lastfm_1k(tmp_path / "lastfm-1k")
    raw = _upload(log, tmp_path)
    roles = detect_roles(raw.frame)
    assert (roles.user, roles.item, roles.timestamp, roles.rating) == ("column_1", "column_4", "column_2", None)
    kept = build_dataset(raw.frame, roles)
    assert any("choose the policy 'count' (on the command line: --duplicates count)" in str(w) for w in kept.warnings)
    counted = build_dataset(raw.frame, roles, IntakeOptions(duplicates="count")).dataset
    listens = raw.frame.groupby(["column_1", "column_4"]).size()
    assert len(counted.interactions) == len(listens) == len(kept.dataset.interactions)
    by_pair = counted.interactions.set_index(["user_id", "item_id"])["rating"]
    assert by_pair.sort_index().tolist() == listens.sort_index().astype(float).tolist()
    assert counted.feedback.count_weight == "log" and counted.has_counts
    plays = pd.DataFrame({"user": ["a", "a", "b"], "item": ["x", "x", "y"], "plays": ["1", "2", "3"]})
    with pytest.raises(DataError, match="'count' counts the rows of each .* column 'plays' is mapped as the rating"):
        build_dataset(plays, RoleMapping("user", "item", "plays"), IntakeOptions(duplicates="count"))


def test_a_year_one_placeholder_date_is_a_date_not_a_crash(tmp_path: Path):
    """'0001-01-01', a common placeholder for an unknown date, overflowed nanoseconds: an OutOfBoundsDatetime
    traceback when saving interactions with such a time, and when encoding a release date for a model."""
    plays, games = public_shapes.steam(tmp_path / "steam")
    meta = _upload(games, tmp_path).frame
    meta.loc[meta.index[:5], "release_date"] = "0001-01-01"
    raw = _upload(plays, tmp_path).frame.assign(when="2019-11-15 08:55:22")
    raw.loc[raw["column_1"] == raw["column_1"].iloc[0], "when"] = "0001-01-01"  # every row of one user
    dataset = build_dataset(raw, RoleMapping("column_1", "column_2", timestamp="when"),
                            items=AttributeInput(meta, "name")).dataset
    assert dataset.interactions["timestamp"].min() == -62135596800
    features = encode_attributes(dataset.items, "item_id", dataset.item_kinds)
    assert "release_date" in features.field_names


def test_goodreads_shelves_listed_as_objects_are_read_by_their_names_weighed_by_their_counts(tmp_path: Path):
    """popular_shelves [{"count": "3", "name": "to-read"}, ...] became "{'count': '3', 'name': 'to-read'}|..." values,
    each shelf unique to its book by its count; then plain names, their counts lost."""
    interactions, books = public_shapes.goodreads(tmp_path / "goodreads")
    raw, meta = _upload(interactions, tmp_path), _upload(books, tmp_path)
    result = build_dataset(raw.frame, detect_roles(raw.frame), items=AttributeInput(meta.frame, "book_id"))
    dataset = result.dataset
    shelves = multi_value_rows(dataset.items["popular_shelves"])
    assert dataset.item_kinds["popular_shelves"] == "multi"
    assert shelves["value"].isin(["to-read", "fantasy", "owned"]).any()
    assert not shelves["value"].str.contains("count").any()
    with gzip.open(books, "rt") as lines:
        first = ast.literal_eval(lines.readline())
    stored = dataset.items.set_index("item_id").loc[first["book_id"], "popular_shelves"]
    assert weighted_values(stored) == {s["name"]: float(s["count"]) for s in first["popular_shelves"]}
    assert any("are 0 on a scale of 1 to 5" in str(w) for w in result.warnings)  # 0 is 'not rated' here too


def test_movielens_latest_movies_and_tags_are_joined_per_movie_each_tag_weighed_by_its_givers(tmp_path: Path):
    """ml-latest ships genres in movies.csv and a row per (user, movie, tag) in tags.csv: one item table had to go."""
    ratings, movies, tags, links = public_shapes.movielens_latest(tmp_path / "ml")
    raw = _upload(ratings, tmp_path)
    tables = [AttributeInput(_upload(path, tmp_path).frame, "movieId", label=path.name)
              for path in (movies, tags, links)]
    result = build_dataset(raw.frame, detect_roles(raw.frame), items=tables)
    kinds, items = result.dataset.item_kinds, result.dataset.items.set_index("item_id")
    assert (kinds["genres"], kinds["tag"], kinds["userId"], kinds["timestamp"]) == ("multi", "multi", "ignore",
                                                                                    "ignore")
    assert kinds["imdbId"] == "ignore" and kinds["title"] == "text"
    given = pd.read_csv(tags).astype({"movieId": str}).groupby(["movieId", "tag"]).size()
    tagged = given.index.get_level_values(0).unique()
    assert {m: weighted_values(items.loc[m, "tag"]) for m in tagged} == {
        m: given[m].astype(float).to_dict() for m in tagged}
    untagged = items.index.difference(tagged)
    assert items.loc[untagged, "tag"].isna().all() and items.loc[untagged, "genres"].notna().all()
    assert any("'userId' holds user ids" in str(w) for w in result.warnings)


def test_hetrec_lastfm_plays_artists_tags_and_friends_read_as_published(tmp_path: Path):
    """Play counts as implicit feedback; artists.dat keyed by its 'id' and user_taggedartists.dat by 'artistID',
    joined, each tag weighed by its givers, the givers and the dates of tagging left out; friends as a user list."""
    plays, artists, tagged, _, friends = (_upload(p, tmp_path) for p in public_shapes.lastfm_2k(tmp_path / "lastfm"))
    roles = detect_roles(plays.frame)
    item_ids = [guess_id_column("item", list(t.frame.columns), roles.item) for t in (artists, tagged)]
    assert (roles.user, roles.item, roles.rating, item_ids) == ("userID", "artistID", "weight", ["id", "artistID"])
    result = build_dataset(plays.frame, roles, items=[AttributeInput(t.frame, i, label=t.name)
                                                      for t, i in zip((artists, tagged), item_ids)],
                           users=AttributeInput(friends.frame, "userID", label=friends.name))
    dataset, said = result.dataset, " ".join(map(str, result.warnings))
    assert dataset.feedback.kind == "implicit" and dataset.feedback.count_weight == "log"
    assert {k: dataset.item_kinds[k] for k in ("tagID", "userID", "day", "month", "year", "url")} == {
        "tagID": "multi", "userID": "ignore", "day": "ignore", "month": "ignore", "year": "ignore", "url": "ignore"}
    assert dataset.user_kinds == {"friendID": "multi"}
    given = tagged.frame.astype(str).groupby(["artistID", "tagID"]).size()
    artist = given.index[0][0]
    stored = dataset.items.set_index("item_id").loc[artist, "tagID"]
    assert weighted_values(stored) == given[artist].astype(float).to_dict()
    assert "longer than" not in said  # hundreds of tags gathered for one artist are no sign of a broken file


def test_goodbooks_tags_keyed_by_the_goodreads_id_reach_the_books_through_books_csv(tmp_path: Path):
    """book_tags.csv counts shelvings by goodreads_book_id, whose numbers overlap book_id's: joined directly, book 2
    would get the tags of goodreads' book 2."""
    ratings, books, book_tags, tags, _ = (_upload(p, tmp_path) for p in public_shapes.goodbooks(tmp_path / "gb"))
    roles = detect_roles(ratings.frame)
    tables = [AttributeInput(t.frame, guess_id_column("item", list(t.frame.columns), roles.item), label=t.name)
              for t in (books, book_tags)]
    assert [t.id_column for t in tables] == ["book_id", "goodreads_book_id"]
    result = build_dataset(ratings.frame, roles, items=tables)
    items = result.dataset.items.set_index("item_id")
    goodreads_of = books.frame.astype(str).set_index("book_id")["goodreads_book_id"]
    shelved = book_tags.frame.astype({"count": float}).astype({"goodreads_book_id": str, "tag_id": str})
    counts = shelved.groupby(["goodreads_book_id", "tag_id"])["count"].sum()
    for book in ("1", "2", "3"):
        assert weighted_values(items.loc[book, "tag_id"]) == counts[goodreads_of[book]].to_dict()
    assert result.dataset.item_kinds["authors"] == "multi" and result.dataset.item_kinds["count"] == "ignore"
    said = " ".join(map(str, result.warnings))
    assert "book_tags.csv is keyed by 'goodreads_book_id', which books.csv lists beside its item ids" in said
    keyed_by_tag = build_dataset(ratings.frame, roles, items=[tables[0], AttributeInput(tags.frame, "tag_id",
                                                                                        label=tags.name)])
    assert any("tags.csv is keyed by 'tag_id', named unlike the interactions' item column 'book_id'" in str(w)
               for w in keyed_by_tag.warnings)
