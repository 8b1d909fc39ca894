"""From a protocol's row assignment to a `Split` with named slices and explicit candidate sets.

Every protocol, and every imported split folder, ends here, so slice names and candidate rules follow from the rows
alone: an entity absent from training is new. Per part (valid or test):
- `warm` (named `temporal` in the temporal protocol): known users on known items, ranked among training items;
- `cold-user`: new users on known items, ranked among training items;
- `cold-item`: known users on new items, ranked among all cold items (the new items of valid and test alike, as
  in the ColdRec protocol); `cold-item-all`: the same rows ranked among training items plus all cold items;
- `cold-both`: new users on new items, ranked among all cold items;
- `few-shot-user-kK` / `few-shot-item-kK`: new entities that reveal their first K rows (`revealed`, with a `shot`
  rank) to the model at inference; the same held-out rows for every K. Few-shot items rank among the part's
  few-shot items only, since the other part's items come without their revealed rows;
- `overall`: every held-out row of the part, ranked among training items, all cold items and the part's few-shot
  items.
Training positives of a user are excluded at scoring time, never by removing candidates.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.protocols.common import is_in
from engine.protocols.slices import (COLD_BOTH, COLD_ITEM, COLD_ITEM_ALL, COLD_USER, FEW_SHOT_KINDS, OVERALL,
                                     TEMPORAL, WARM, few_shot_name, few_shot_protocol)
from engine.protocols.split import EvalSlice, Split

TRUTH_COLUMNS = ("user_id", "item_id", "weight", "rating", "timestamp")
_CSV_ROWS = 1 << 21
"""Rows of a part turned into CSV text at a time for its fingerprint (bounds the text held at once)."""
_NEEDS_QUOTES = r'[,"\r\n]'


@dataclass
class SplitParts:
    """A split as rows: what protocols produce, what split folders store, what `assemble_split` turns into slices.

    `valid_revealed` / `test_revealed`: few-shot rows shown to the model, with `shot` = 1, 2, ... (reveal order).
    `shots`: the K values of the few-shot slices; `overall_shots`: the K the `overall` slice reveals.
    """

    protocol: str
    seed: int
    params: dict[str, Any]
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    valid_revealed: pd.DataFrame | None = None
    test_revealed: pd.DataFrame | None = None
    cold_users: list[str] = field(default_factory=list)
    cold_items: list[str] = field(default_factory=list)
    shots: tuple[int, ...] = ()
    overall_shots: int | None = None


def _frame(rows: pd.DataFrame, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Rows with the split's columns only, string ids, sorted: one canonical form for slices and fingerprints."""
    out = rows.copy()
    if "weight" not in out.columns:
        out["weight"] = 1.0
    out = out[[c for c in (*TRUTH_COLUMNS, *extra) if c in out.columns]]
    # ids stay Arrow strings: a Python string object per row (astype(object)) made sorting and fingerprinting a
    # 16M-row training part several times slower, and the CSV text the fingerprint hashes is the same
    out["user_id"] = out["user_id"].astype(str)
    out["item_id"] = out["item_id"].astype(str)
    return out.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)


def split_fingerprint(parts: SplitParts) -> str:
    """sha256 over the protocol, seed, parameters and the content of every part."""
    digest = hashlib.sha256()
    header = {"protocol": parts.protocol, "seed": parts.seed, "params": parts.params}
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    for name in ("train", "valid", "test", "valid_revealed", "test_revealed"):
        rows = getattr(parts, name)
        digest.update(name.encode())
        if rows is not None:
            canonical = _frame(rows, ("shot",))
            for text in csv_chunks(canonical):
                digest.update(text)
    return digest.hexdigest()


def csv_chunks(frame: pd.DataFrame) -> Iterable[bytes]:
    """`frame.to_csv(index=False).encode()` in consecutive pieces, built column-wise by Arrow.

    The fingerprint hashes this text; pandas' CSV writer made a Python object of every cell and took most of a 20M
    row split. Ids are plain text, floats print as pandas prints them (NumPy's shortest repr, formatted once per
    distinct value; NaN empty), whole numbers as digits. A frame with anything else (ids that need quotes, missing
    ids, other types, no rows) goes through `to_csv` itself, so the bytes are always those of `to_csv`."""
    fast = len(frame) > 0 and all(_csv_column(frame[c].iloc[:0]) is not None for c in frame.columns)
    if not fast or any(pd.api.types.is_string_dtype(frame[c]) and _needs_pandas(frame[c]) for c in frame.columns):
        return [frame.to_csv(index=False).encode()]
    return _csv_pieces(frame)


def _needs_pandas(text: pd.Series) -> bool:
    values = pa.array(text)
    return values.null_count > 0 or bool(pc.any(pc.match_substring_regex(values, _NEEDS_QUOTES)).as_py())


def _csv_pieces(frame: pd.DataFrame) -> Iterator[bytes]:
    yield (",".join(str(c) for c in frame.columns) + "\n").encode()
    for start in range(0, len(frame), _CSV_ROWS):
        part = frame.iloc[start:start + _CSV_ROWS]
        comma, newline, empty = (pa.scalar(text, pa.large_string()) for text in (",", "\n", ""))
        lines = pc.binary_join_element_wise(*[_csv_column(part[c]) for c in part.columns], comma)
        lines = pc.binary_join_element_wise(lines, empty, newline)  # each line followed by a newline
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks()
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset:lines.offset + len(lines) + 1]
        yield lines.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]


def _csv_column(values: pd.Series) -> pa.Array | None:
    """A column as its CSV cells, or None for a type the fast path does not print like pandas."""
    if pd.api.types.is_string_dtype(values):
        return pa.array(values.astype(str), type=pa.large_string())
    if values.dtype == np.int64:
        return pc.cast(pa.array(values.to_numpy()), pa.large_string())
    if values.dtype == np.float64:
        codes, uniques = pd.factorize(values.to_numpy(), use_na_sentinel=False)
        cells = np.where(np.isnan(uniques), "", uniques.astype(str)) if len(uniques) else np.array([], dtype=str)
        return pa.array(cells.astype(object), type=pa.large_string()).take(pa.array(codes))
    return None


def primary_slice_name(protocol: str, overall_shots: int | None) -> str:
    """The validation slice a protocol's models early-stop and tune on: the slice kind a protocol is named after
    (a few-shot protocol's slice at `overall_shots`), else `overall`."""
    for side in FEW_SHOT_KINDS:
        if protocol == few_shot_protocol(side) and overall_shots is not None:
            return few_shot_name(side, overall_shots)
    if protocol in (WARM.name, COLD_ITEM.name, COLD_USER.name, COLD_BOTH.name, TEMPORAL.name):
        return protocol
    return OVERALL.name


def _cold_items(rows: pd.DataFrame, revealed: pd.DataFrame | None, train_items: pd.Index) -> set[str]:
    """A part's new items that reveal no rows (few-shot items do, and are not cold)."""
    shown = set(revealed["item_id"].astype(str).unique()) if revealed is not None else set()
    return set(rows["item_id"].astype(str).unique()) - set(train_items) - shown


def _part_slices(rows: pd.DataFrame, revealed: pd.DataFrame | None, train_users: pd.Index, train_items: pd.Index,
                 cold_pool: np.ndarray, parts: SplitParts) -> list[EvalSlice]:
    """The slices of one held-out part (valid or test), in a fixed order; `cold_pool` = all cold items."""
    rows = _frame(rows)
    revealed = _frame(revealed, ("shot",)) if revealed is not None and not revealed.empty else None
    new_user = ~is_in(rows["user_id"], train_users)
    new_item = ~is_in(rows["item_id"], train_items)
    revealed_users = set(revealed.loc[~is_in(revealed["user_id"], train_users), "user_id"].unique()) \
        if revealed is not None else set()
    revealed_items = set(revealed.loc[~is_in(revealed["item_id"], train_items), "item_id"].unique()) \
        if revealed is not None else set()
    few_user = new_user & is_in(rows["user_id"], revealed_users)
    few_item = new_item & is_in(rows["item_id"], revealed_items)
    known_items = np.asarray(train_items, dtype=object)
    few_shot_items = np.asarray(sorted(rows.loc[few_item, "item_id"].unique()), dtype=object)
    all_items = np.concatenate([known_items, cold_pool, few_shot_items])
    warm_name = TEMPORAL.name if parts.protocol == TEMPORAL.name else WARM.name  # the protocol named after it

    def make(name: str, mask: np.ndarray, candidates: np.ndarray, rule: str, *, users_new: bool, items_new: bool,
             shots: int | None = None) -> EvalSlice:
        """One slice of this part: the rows under `mask`, its candidates, and the first `shots` revealed rows."""
        shown = None
        if shots is not None and revealed is not None:
            shown = revealed.loc[revealed["shot"] <= shots].reset_index(drop=True)
        return EvalSlice(name=name, truth=rows.loc[mask].reset_index(drop=True), candidate_items=candidates,
                         new_users=users_new, new_items=items_new, revealed=shown, shots=shots, candidate_rule=rule)

    slices: list[EvalSlice] = []
    plain = ~few_user & ~few_item
    if (m := plain & ~new_user & ~new_item).any():
        slices.append(make(warm_name, m, known_items, "training items", users_new=False, items_new=False))
    if (m := plain & new_user & ~new_item).any():
        slices.append(make(COLD_USER.name, m, known_items, "training items", users_new=True, items_new=False))
    if (m := plain & ~new_user & new_item).any():
        slices.append(make(COLD_ITEM.name, m, cold_pool, "cold items", users_new=False, items_new=True))
        slices.append(make(COLD_ITEM_ALL.name, m, np.concatenate([known_items, cold_pool]),
                           "training items and cold items", users_new=False, items_new=True))
    if (m := plain & new_user & new_item).any():
        slices.append(make(COLD_BOTH.name, m, cold_pool, "cold items", users_new=True, items_new=True))
    for side, mask in (("user", few_user), ("item", few_item)):
        if not mask.any():
            continue
        candidates = known_items if side == "user" else few_shot_items
        rule = "training items" if side == "user" else "few-shot items of this part"
        for k in parts.shots:
            slices.append(make(few_shot_name(side, k), mask, candidates, rule, users_new=side == "user",
                               items_new=side == "item", shots=k))
    slices.append(make(OVERALL.name, np.ones(len(rows), dtype=bool), all_items,
                       "training items, cold items and few-shot items of this part", users_new=bool(new_user.any()),
                       items_new=bool(new_item.any()), shots=parts.overall_shots if revealed is not None else None))
    return slices


def assemble_split(parts: SplitParts) -> Split:
    """The `Split` of a row assignment: slices, candidates and fingerprint, the primary validation slice first."""
    train = _frame(parts.train)
    if train.empty:
        raise ValueError("the training part is empty; nothing to fit a model on")
    train_users = pd.Index(sorted(train["user_id"].unique()))
    train_items = pd.Index(sorted(train["item_id"].unique()))
    cold_pool = np.asarray(sorted(_cold_items(parts.valid, parts.valid_revealed, train_items)
                                  | _cold_items(parts.test, parts.test_revealed, train_items)), dtype=object)
    valid = _part_slices(parts.valid, parts.valid_revealed, train_users, train_items, cold_pool, parts)
    test = _part_slices(parts.test, parts.test_revealed, train_users, train_items, cold_pool, parts)
    primary = primary_slice_name(parts.protocol, parts.overall_shots)
    valid.sort(key=lambda s: s.name != primary)  # stable: the primary slice first, the rest in their order
    return Split(protocol=parts.protocol, seed=parts.seed, params=dict(parts.params), train=train, valid=valid,
                 test=test, cold_users=sorted(parts.cold_users), cold_items=sorted(parts.cold_items),
                 fingerprint=split_fingerprint(parts))


def _part_rows(slices: list[EvalSlice]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The held-out rows and revealed rows behind a part's slices (views such as `overall` overlap, so dedupe)."""
    truths = [s.truth for s in slices]
    rows = pd.concat(truths, ignore_index=True).drop_duplicates(["user_id", "item_id"]) if truths else pd.DataFrame(
        columns=["user_id", "item_id", "weight"])
    shown = [s.revealed for s in slices if s.revealed is not None and not s.revealed.empty]
    revealed = pd.concat(shown, ignore_index=True).drop_duplicates(["user_id", "item_id"]) if shown else None
    return _frame(rows), (_frame(revealed, ("shot",)) if revealed is not None else None)


def split_parts(split: Split) -> SplitParts:
    """The rows behind a `Split` (inverse of `assemble_split`), for storing and exporting it."""
    valid, valid_revealed = _part_rows(split.valid)
    test, test_revealed = _part_rows(split.test)
    shots = tuple(sorted({s.shots for s in split.valid + split.test if s.shots is not None and s.name != OVERALL.name}))
    overall = [s.shots for s in split.test + split.valid if s.name == OVERALL.name and s.shots is not None]
    return SplitParts(protocol=split.protocol, seed=split.seed, params=dict(split.params), train=split.train,
                      valid=valid, test=test, valid_revealed=valid_revealed, test_revealed=test_revealed,
                      cold_users=list(split.cold_users), cold_items=list(split.cold_items), shots=shots,
                      overall_shots=overall[0] if overall else None)
