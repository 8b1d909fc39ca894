"""Read a folder in the canonical layout (interactions.csv, optional items.csv and users.csv) into a `Dataset`.

This is how built-in and shared datasets such as ../shared/data/ml-100k come in: the same validation as uploads,
with roles taken from the canonical column names and attribute kinds and feedback inferred.
"""

from __future__ import annotations

from pathlib import Path

from engine.data.columns import RoleMapping
from engine.data.dataset import Dataset
from engine.data.errors import DataError
from engine.data.read import read_path
from engine.data.validate import AttributeInput, IntakeOptions, IntakeResult, build_dataset

INTERACTIONS_FILE = "interactions.csv"
ITEMS_FILE = "items.csv"
USERS_FILE = "users.csv"


def read_canonical_result(path: str | Path, options: IntakeOptions = IntakeOptions()) -> IntakeResult:
    """Like `read_canonical_folder`, but also returns the warnings raised while validating."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"Folder '{folder}' does not exist or is not a folder", str(folder),
                        f"Give the path of a folder that holds {INTERACTIONS_FILE}")
    if not (folder / INTERACTIONS_FILE).is_file():
        try:
            present = ", ".join(sorted(p.name for p in folder.iterdir())[:10]) or "nothing"
        except OSError as error:
            raise DataError(f"Folder '{folder}' cannot be read ({error.strerror})", str(folder),
                            "Check the folder's permissions") from error
        raise DataError(f"The folder has no {INTERACTIONS_FILE}", f"{folder} holds {present}",
                        f"Add {INTERACTIONS_FILE} with columns user_id, item_id[, rating][, timestamp][, event]")
    interactions = read_path(folder / INTERACTIONS_FILE)
    columns = set(interactions.frame.columns)
    roles = RoleMapping(
        user="user_id" if "user_id" in columns else None,
        item="item_id" if "item_id" in columns else None,
        rating="rating" if "rating" in columns else None,
        timestamp="timestamp" if "timestamp" in columns else None,
        event="event" if "event" in columns else None,
    )
    tables: dict[str, AttributeInput | None] = {}
    for side, file in (("items", ITEMS_FILE), ("users", USERS_FILE)):
        table_path = folder / file
        if table_path.is_file():
            raw = read_path(table_path)
            tables[side] = AttributeInput(raw.frame, f"{side[:-1]}_id", label=file, first_row=raw.first_row)
        else:
            tables[side] = None
    return build_dataset(interactions.frame, roles, options, items=tables["items"], users=tables["users"],
                         name=folder.name, label=INTERACTIONS_FILE, first_row=interactions.first_row)


def read_canonical_folder(path: str | Path, options: IntakeOptions = IntakeOptions()) -> Dataset:
    """The validated `Dataset` stored in a canonical folder; raises `DataError` for a missing or unusable folder."""
    return read_canonical_result(path, options).dataset
