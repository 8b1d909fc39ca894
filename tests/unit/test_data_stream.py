"""Streamed uploads: a CSV parsed block by block into Parquet gives the same table and dataset as the one-shot read,
and a malformed row in a late block is refused by its line with nothing left on disk."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pandas as pd
import pytest

from engine.data import stream
from engine.data.columns import detect_roles
from engine.data.errors import DataError
from engine.data.read import read_table
from engine.data.stream import read_streamed, stream_to_disk
from engine.data.validate import AttributeInput, IntakeOptions, build_dataset

SMALL_BLOCK = 64 * 1024  # ML-100K's 2 MB of interactions become about 30 blocks


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "BLOCK_BYTES", SMALL_BLOCK)


def _both(data: bytes, name: str, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    once = read_table(data, name, max_mb=float("inf")).frame
    streamed = read_streamed(io.BytesIO(data), name, folder, max_mb=float("inf")).frame
    return once, streamed


def test_streamed_ml100k_gives_the_same_tables_and_dataset(ml100k_dir: Path, tmp_path: Path, small_blocks):
    tables = {}
    for name in ("interactions", "items", "users"):
        data = (ml100k_dir / f"{name}.csv").read_bytes()
        once, streamed = _both(data, f"{name}.csv", tmp_path)
        pd.testing.assert_frame_equal(streamed, once)
        tables[name] = (once, streamed)
    datasets = [build_dataset(tables["interactions"][k], detect_roles(tables["interactions"][k]), IntakeOptions(),
                              items=AttributeInput(tables["items"][k], "item_id"),
                              users=AttributeInput(tables["users"][k], "user_id")).dataset for k in (0, 1)]
    for table in ("interactions", "items", "users"):
        pd.testing.assert_frame_equal(getattr(datasets[1], table), getattr(datasets[0], table))
    assert datasets[1].item_kinds == datasets[0].item_kinds and datasets[1].feedback == datasets[0].feedback
    assert list(tmp_path.iterdir()) == []  # the Parquet file is removed once read back


def test_empty_cells_quotes_odd_headers_and_gzip_read_as_the_one_shot_read(tmp_path: Path, small_blocks):
    rows = ["user\titem\t\tnote\tnote\t extra \t \t"]  # a blank cell, a blank once stripped, then a repeat
    rows += [f'u{k}\ti{k % 50}\t{"" if k % 7 == 0 else k % 5}\t"a, ""quoted"" {k}"\tNA\t""\t{k}\t' for k in range(20_000)]
    data = ("\n".join(rows) + "\n").encode()
    once, streamed = _both(data, "ratings.tsv", tmp_path)
    pd.testing.assert_frame_equal(streamed, once)
    assert streamed["Unnamed: 2"].isna().sum() == len([k for k in range(20_000) if k % 7 == 0])
    assert list(streamed.columns) == ["user", "item", "Unnamed: 2", "note", "note.1", "extra", "Unnamed: 6",
                                      "Unnamed: 7"]
    _, unpacked = _both(gzip.compress(data), "ratings.tsv.gz", tmp_path)
    pd.testing.assert_frame_equal(unpacked, once)


def test_a_headerless_file_gets_numbered_columns_as_in_the_one_shot_read(tmp_path: Path, small_blocks):
    data = "".join(f"{k}\t{k % 50}\t{k % 5 + 1}\t{880000000 + k}\n" for k in range(30_000)).encode()
    once, streamed = _both(data, "u.data", tmp_path)
    pd.testing.assert_frame_equal(streamed, once)
    assert list(streamed.columns) == ["column_1", "column_2", "column_3", "column_4"] and len(streamed) == 30_000


def test_a_headerless_file_with_text_ids_streams_every_row(tmp_path: Path, small_blocks):
    data = "".join(f"u{k}\ti{k % 50}\t{k % 5 + 1}.0\t{880000000 + k}\n" for k in range(30_000)).encode()
    once, streamed = _both(data, "plays.tsv", tmp_path)
    pd.testing.assert_frame_equal(streamed, once)
    assert streamed["column_1"].iloc[0] == "u0" and len(streamed) == 30_000


def test_a_bad_row_in_a_late_block_names_its_line_and_leaves_nothing(ml100k_dir: Path, tmp_path: Path,
                                                                     small_blocks):
    lines = (ml100k_dir / "interactions.csv").read_text().splitlines()
    bad_line = len(lines) - 10  # 1-based file line, far past the first block
    lines[bad_line - 1] += ",extra"
    data = ("\n".join(lines) + "\n").encode()
    destination = tmp_path / "interactions.parquet"
    with pytest.raises(DataError) as error:
        stream_to_disk(io.BytesIO(data), "interactions.csv", destination, max_mb=float("inf"))
    assert f"line {bad_line} has 5 fields where 4 were expected" in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_latin1_past_its_head_is_read_again_as_latin1(tmp_path: Path, small_blocks):
    lines = ["user_id,item_id"] + [f"u{k},i{k % 300}" for k in range(30_000)] + ["u1,café"]
    data = ("\n".join(lines) + "\n").encode("latin-1")
    table = read_streamed(io.BytesIO(data), "big.csv", tmp_path, max_mb=float("inf"))
    assert table.encoding == "latin-1" and table.frame["item_id"].iloc[-1] == "café"
    pd.testing.assert_frame_equal(table.frame, read_table(data, "big.csv", max_mb=float("inf")).frame)


def test_uploads_over_the_limit_or_expanding_past_it_are_refused(tmp_path: Path, small_blocks):
    data = ("user_id,item_id\n" + "".join(f"u{k},i{k}\n" for k in range(200_000))).encode()
    with pytest.raises(DataError, match="over the 1 MB upload limit"):
        read_streamed(io.BytesIO(data), "big.csv", tmp_path, max_mb=1)
    bomb = gzip.compress(b"user_id,item_id\n" + b"u1,i1\n" * 2_000_000)  # 12 MB of text in a few kB
    with pytest.raises(DataError, match="expands to more than 5 MB"):
        read_streamed(io.BytesIO(bomb), "bomb.csv.gz", tmp_path, max_mb=0.5)
    assert list(tmp_path.iterdir()) == []
