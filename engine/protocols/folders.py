"""Split folders: `train.csv`, `valid.csv`, `test.csv` (+ `*_revealed.csv` for few-shot) and `split.json`.

The format other tools can produce and consume, so results are comparable on exactly the same split. On import
the candidate rules follow from the files (an entity in valid/test but not in train is new; see `assemble`). The
same layout in Parquet is how the app stores an experiment's split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pandas as pd

from engine.data.dataset import Dataset
from engine.protocols.assemble import SplitParts, assemble_split, split_parts
from engine.protocols.common import ProtocolError
from engine.protocols.slices import SLICE_KINDS
from engine.protocols.split import Split

PART_FILES = ("train", "valid", "test")
REVEALED_FILES = ("valid_revealed", "test_revealed")


CANDIDATE_RULES = {name: kind.candidates for name, kind in SLICE_KINDS.items()}
"""What `split.json` records about each slice kind's candidates."""


def _export_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows in the exchange columns: weight only when it carries information (not all 1)."""
    columns = [c for c in ("user_id", "item_id", "rating", "timestamp", "shot") if c in rows.columns]
    if "weight" in rows.columns and not (rows["weight"] == 1).all():
        columns.insert(2, "weight")
    return rows[columns]


def write_split_folder(split: Split, folder: str | Path, file_format: Literal["csv", "parquet"] = "csv") -> Path:
    """Write a split's rows and `split.json` into `folder` (created); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    parts = split_parts(split)
    for name in PART_FILES + REVEALED_FILES:
        rows = getattr(parts, name)
        if rows is None:
            continue
        rows = _export_rows(rows)
        if file_format == "csv":
            rows.to_csv(folder / f"{name}.csv", index=False)
        else:
            rows.to_parquet(folder / f"{name}.parquet", index=False)
    meta = {
        "protocol": split.protocol, "seed": split.seed, "params": split.params, "fingerprint": split.fingerprint,
        "shots": list(parts.shots), "overall_shots": parts.overall_shots,
        "cold_users": list(split.cold_users), "cold_items": list(split.cold_items),
        "candidate_rule": CANDIDATE_RULES,
    }
    (folder / "split.json").write_text(json.dumps(meta, indent=1, default=str))
    return folder


def _read_part(folder: Path, name: str, required: bool) -> pd.DataFrame | None:
    """One part file (CSV or Parquet), ids as strings, checked for the id columns."""
    csv, parquet = folder / f"{name}.csv", folder / f"{name}.parquet"
    if parquet.exists():
        rows = pd.read_parquet(parquet)
    elif csv.exists():
        try:
            rows = pd.read_csv(csv, dtype={"user_id": str, "item_id": str})
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
            raise ProtocolError(f"{csv} is not a readable CSV file: {error}") from None
    elif required:
        raise ProtocolError(f"split folder {folder} has no {name}.csv; a split folder needs train.csv, "
                            "valid.csv and test.csv")
    else:
        return None
    missing = {"user_id", "item_id"} - set(rows.columns)
    if missing:
        raise ProtocolError(f"{name} of split folder {folder} lacks column(s) {', '.join(sorted(missing))}; "
                            "expected user_id,item_id[,rating,timestamp]")
    if rows[["user_id", "item_id"]].isna().any().any():
        raise ProtocolError(f"{name} of split folder {folder} has empty user_id or item_id values")
    return rows.assign(user_id=rows["user_id"].astype(str), item_id=rows["item_id"].astype(str))


def read_split_folder(folder: str | Path) -> Split:
    """A split from a folder written by `write_split_folder` or by another tool (then `split.json` is optional)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ProtocolError(f"split folder {folder} does not exist or is not a folder")
    meta_path = folder / "split.json"
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    except json.JSONDecodeError as error:
        raise ProtocolError(f"{meta_path} is not valid JSON: {error}") from None
    train, valid, test = (_read_part(folder, name, True) for name in PART_FILES)
    valid_revealed, test_revealed = (_read_part(folder, name, False) for name in REVEALED_FILES)
    for name, rows in (("valid_revealed", valid_revealed), ("test_revealed", test_revealed)):
        if rows is not None and "shot" not in rows.columns:
            raise ProtocolError(f"{name} of split folder {folder} needs a shot column (1 = revealed first)")
    shots = tuple(int(k) for k in meta.get("shots") or ())
    if (valid_revealed is not None or test_revealed is not None) and not shots:
        revealed = pd.concat([r for r in (valid_revealed, test_revealed) if r is not None])
        shots = (int(revealed["shot"].max()),)
    overall_shots = meta.get("overall_shots") or (shots[-1] if shots else None)
    parts = SplitParts(protocol=str(meta.get("protocol", "imported")), seed=int(meta.get("seed", 0)),
                       params=dict(meta.get("params") or {}), train=train, valid=valid, test=test,
                       valid_revealed=valid_revealed, test_revealed=test_revealed,
                       cold_users=[str(u) for u in meta.get("cold_users") or []],
                       cold_items=[str(i) for i in meta.get("cold_items") or []],
                       shots=shots, overall_shots=overall_shots)
    try:
        return assemble_split(parts)
    except ValueError as error:
        raise ProtocolError(f"split folder {folder}: {error}") from None


def check_split_matches(split: Split, dataset: Dataset) -> None:
    """Fail when the split names users or items the dataset does not have (files made for other data)."""
    users = set(dataset.interactions["user_id"].astype(str).unique())
    items = set(dataset.interactions["item_id"].astype(str).unique())
    parts = split_parts(split)
    frames = [f for f in (parts.train, parts.valid, parts.test, parts.valid_revealed, parts.test_revealed)
              if f is not None]
    rows = pd.concat(frames, ignore_index=True)
    unknown_users = sorted(set(rows["user_id"].unique()) - users)
    unknown_items = sorted(set(rows["item_id"].unique()) - items)
    if unknown_users or unknown_items:
        sample = (unknown_users[:3] and f"users {unknown_users[:3]}") or f"items {unknown_items[:3]}"
        raise ProtocolError(f"the split files do not match the data: {len(unknown_users)} user(s) and "
                            f"{len(unknown_items)} item(s) are not in the dataset (e.g. {sample}); "
                            "export the split from the same dataset")
