"""Slice sizes of a split, shown before anything trains: users, items, rows and cold entities per slice."""

from __future__ import annotations

import pandas as pd

from engine.protocols.split import EvalSlice, Split


def slice_size(evaluation_slice: EvalSlice) -> dict[str, int]:
    """Users to rank for, candidate items, held-out rows and revealed rows of one slice."""
    truth = evaluation_slice.truth
    return {
        "users": int(truth["user_id"].nunique()),
        "candidates": int(len(evaluation_slice.candidate_items)),
        "interactions": int(len(truth)),
        "revealed": int(len(evaluation_slice.revealed)) if evaluation_slice.revealed is not None else 0,
    }


def split_sizes(split: Split) -> dict:
    """Sizes of the training part, every valid and test slice, and the cold entities (JSON-ready)."""
    return {
        "train": {"users": int(split.train["user_id"].nunique()), "items": int(split.train["item_id"].nunique()),
                  "interactions": int(len(split.train))},
        "valid": {s.name: slice_size(s) for s in split.valid},
        "test": {s.name: slice_size(s) for s in split.test},
        "cold_users": len(split.cold_users),
        "cold_items": len(split.cold_items),
    }


def sizes_table(sizes: dict) -> pd.DataFrame:
    """The slice sizes as one table (part, slice, users, candidates, interactions, revealed) for display."""
    records = [{"part": "train", "slice": "train", "users": sizes["train"]["users"],
                "candidates": sizes["train"]["items"], "interactions": sizes["train"]["interactions"], "revealed": 0}]
    for part in ("valid", "test"):
        records += [{"part": part, "slice": name, **values} for name, values in sizes[part].items()]
    return pd.DataFrame.from_records(records)
