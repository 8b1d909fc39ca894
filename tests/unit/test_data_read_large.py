"""Large text uploads go to Arrow's parser as bytes, without a decoded copy beside them, and read as before: UTF-8
checked in place, a file that is not UTF-8 past its head still read as latin-1."""

from __future__ import annotations

from engine.data.read import read_table

ROWS = 40_000


def _csv(last_item: str) -> str:
    lines = ["user_id,item_id,rating"] + [f"u{k % 997},i{k % 389},{k % 5 + 1}" for k in range(ROWS)]
    return "\n".join(lines + [f"u1,{last_item},5"]) + "\n"


def test_a_large_utf8_file_is_read_whole_with_its_accents():
    raw = read_table(_csv("café").encode("utf-8"), "big.csv", max_mb=float("inf"))
    assert raw.encoding == "UTF-8" and len(raw.frame) == ROWS + 1
    assert raw.frame["item_id"].iloc[-1] == "café"


def test_a_large_file_that_is_latin1_only_after_its_head_is_read_as_latin1():
    raw = read_table(_csv("café").encode("latin-1"), "big.csv", max_mb=float("inf"))
    assert raw.encoding == "latin-1" and raw.frame["item_id"].iloc[-1] == "café"
