"""Reading uploads: formats, compression, delimiter and encoding detection, and every unreadable-file case."""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from engine.data.columns import detect_roles
from engine.data.errors import DataError
from engine.data.read import check_file_name, read_table

CSV = "user_id,item_id,rating\n1,a,5\n2,b,3\n"


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"])
def test_delimiter_is_detected(delimiter: str):
    text = CSV.replace(",", delimiter)
    table = read_table(text.encode(), "ratings.txt", max_mb=1)
    assert table.delimiter == delimiter
    assert list(table.frame.columns) == ["user_id", "item_id", "rating"]
    assert table.frame["item_id"].tolist() == ["a", "b"]


def test_commas_inside_a_pipe_separated_attribute_do_not_fool_the_detection():
    text = 'item_id,title,genres\n1,"Heat, The",Action|Crime\n2,Up,Animation|Comedy|Drama\n'
    table = read_table(text.encode(), "items.csv", max_mb=1)
    assert table.delimiter == ","
    assert table.frame["genres"].tolist() == ["Action|Crime", "Animation|Comedy|Drama"]


def test_utf8_with_bom_does_not_leak_into_the_first_column_name():
    table = read_table(b"\xef\xbb\xbf" + CSV.encode(), "r.csv", max_mb=1)
    assert table.frame.columns[0] == "user_id"
    assert table.encoding == "UTF-8 with BOM"


def test_latin1_text_is_decoded_as_latin1():
    text = "item_id,title\n1,Caf\xe9 M\xfcller\n2,Se\xf1or\n"
    table = read_table(text.encode("latin-1"), "items.csv", max_mb=1)
    assert table.encoding == "latin-1"
    assert table.frame["title"].tolist() == ["Café Müller", "Señor"]


def test_ids_are_read_as_text_so_leading_zeros_survive():
    table = read_table(b"user_id,item_id\n007,0012\n8,13\n", "r.csv", max_mb=1)
    assert table.frame["user_id"].tolist() == ["007", "8"]


def test_gzip_and_zip_with_one_table_read_like_the_plain_file():
    plain = read_table(CSV.encode(), "r.csv", max_mb=1).frame
    gz = read_table(gzip.compress(CSV.encode()), "r.csv.gz", max_mb=1)
    archive = _zip({"data/r.csv": CSV.encode(), "__MACOSX/._r.csv": b"x", "README": b"hi"})
    zipped = read_table(archive, "r.zip", max_mb=1)
    assert gz.compression == "gzip" and zipped.compression == "zip"
    pd.testing.assert_frame_equal(gz.frame, plain)
    pd.testing.assert_frame_equal(zipped.frame, plain)


def test_parquet_keeps_its_types_and_counts_rows_from_one():
    frame = pd.DataFrame({"user_id": [1, 2], "item_id": ["a", "b"], "rating": [4.5, 2.0]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    table = read_table(buffer.getvalue(), "r.parquet", max_mb=1)
    assert table.format == "parquet" and table.first_row == 1
    assert table.frame["rating"].tolist() == [4.5, 2.0]


def test_a_headerless_numeric_file_gets_numbered_columns_mapped_by_position():
    table = read_table(b"1\t10\t5\t874965478\n2\t11\t3\t874965479\n", "u.data", max_mb=1)
    assert not table.has_header and table.first_row == 1
    assert len(table.frame) == 2
    roles = detect_roles(table.frame)
    assert (roles.user, roles.item, roles.rating, roles.timestamp) == ("column_1", "column_2", "column_3", "column_4")


def test_a_headerless_file_with_text_ids_keeps_its_first_row():
    """A log exported without a header ("u265,i352,4.0,1612977762"): the first line is data because it holds
    numbers where the next line does too; read as a header it lost one interaction and named the columns after it."""
    table = read_table(b"u265\ti352\t4.0\t1612977762\nu65\ti590\t3.0\t1613353578\n", "plays.tsv", max_mb=1)
    assert not table.has_header and table.first_row == 1
    assert table.frame["column_1"].tolist() == ["u265", "u65"]
    roles = detect_roles(table.frame)
    assert (roles.user, roles.item, roles.rating, roles.timestamp) == ("column_1", "column_2", "column_3", "column_4")


def test_a_header_over_numeric_rows_stays_a_header():
    table = read_table(b"user,item,stars\n1,10,4\n2,11,5\n", "r.csv", max_mb=1)
    assert table.has_header and list(table.frame.columns) == ["user", "item", "stars"] and len(table.frame) == 2


def test_empty_file_is_rejected():
    with pytest.raises(DataError, match="empty"):
        read_table(b"", "r.csv", max_mb=1)
    with pytest.raises(DataError, match="empty"):
        read_table(b"\n  \n", "r.csv", max_mb=1)


def test_header_only_file_is_rejected_naming_its_columns():
    with pytest.raises(DataError, match="header line but no data rows") as caught:
        read_table(b"user_id,item_id,rating\n", "r.csv", max_mb=1)
    assert "user_id, item_id, rating" in caught.value.where


def test_binary_garbage_is_rejected():
    garbage = np.random.default_rng(0).integers(0, 256, size=4000, dtype=np.uint8).tobytes()
    with pytest.raises(DataError, match="binary"):
        read_table(garbage, "r.csv", max_mb=1)
    with pytest.raises(DataError, match="binary"):
        read_table(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "picture.csv", max_mb=1)


def test_rows_with_too_many_fields_name_the_line():
    with pytest.raises(DataError, match="cannot be parsed") as caught:
        read_table(b"user_id,item_id\n1,a\n2,b,c,d\n", "r.csv", max_mb=1)
    assert "line 3" in caught.value.where


def test_zip_with_several_tables_or_none_is_rejected_listing_its_content():
    with pytest.raises(DataError, match="holds 2 tables") as several:
        read_table(_zip({"a.csv": CSV.encode(), "b.csv": CSV.encode()}), "both.zip", max_mb=1)
    assert "a.csv" in several.value.where and "b.csv" in several.value.where
    with pytest.raises(DataError, match="holds no table"):
        read_table(_zip({"notes.md": b"# hi"}), "none.zip", max_mb=1)


def test_a_file_named_zip_that_is_not_one_is_rejected():
    with pytest.raises(DataError, match="not one"):
        read_table(CSV.encode(), "r.zip", max_mb=1)


def test_upload_over_the_configured_limit_is_rejected(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLDSTART_MAX_UPLOAD_MB", "1")
    big = ("user_id,item_id\n" + "123456,abcdef\n" * 80_000).encode()
    with pytest.raises(DataError, match="over the 1 MB upload limit") as caught:
        read_table(big, "big.csv")
    assert "COLDSTART_MAX_UPLOAD_MB" in caught.value.fix


def test_gzip_that_expands_far_beyond_the_limit_is_stopped():
    bomb = gzip.compress(b"1,a\n" * 3_000_000)  # 12 MB of text, tiny when compressed
    with pytest.raises(DataError, match="expands to more than"):
        read_table(bomb, "r.csv.gz", max_mb=1)


@pytest.mark.parametrize("name", ["../../etc/passwd.csv", "dir\\r.csv", "a;rm -rf.csv", "$(reboot).csv",
                                  "r`id`.csv", "a|b.csv", "line\nbreak.csv"])
def test_file_names_with_path_separators_or_shell_characters_are_rejected(name: str):
    with pytest.raises(DataError, match="not allowed"):
        read_table(CSV.encode(), name, max_mb=1)


def test_ordinary_file_names_with_spaces_and_brackets_are_fine():
    assert check_file_name("my ratings (2).csv") == "my ratings (2).csv"
