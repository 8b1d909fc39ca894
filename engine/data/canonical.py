"""Read a folder in the canonical layout (interactions.csv, optional items.csv and users.csv) into a `Dataset`.

Attributes may come in several files per side, joined on the id: items.csv and items.tags.csv (any
`items.NAME.csv`), as public data sets ship a catalogue and its tags apart.

This is how built-in and shared datasets such as ../shared/data/ml-100k come in: the same validation as uploads,
with roles taken from the canonical column names (guessed as on the Data page when a file has none of them, and
said in a warning) and attribute kinds and feedback inferred.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from engine.data.columns import ROLES, RoleMapping, detect_roles, guess_id_column
from engine.data.dataset import AttributeKind, Dataset
from engine.data.errors import DataError, DataWarning
from engine.data.read import read_path
from engine.data.validate import AttributeInput, IntakeOptions, IntakeResult, build_dataset

INTERACTIONS_FILE = "interactions.csv"
ITEMS_FILE = "items.csv"
USERS_FILE = "users.csv"


@dataclass(frozen=True)
class FolderMapping:
    """How to read a folder whose columns are not (all) the canonical ones: what the Data page's selectboxes set.

    columns: role -> column of interactions.csv, None to leave a role unmapped; roles not named keep their
    canonical column (`user_id`, `item_id`, `rating`, `timestamp`, `event`) when the file has it.
    id_columns: "item" / "user" -> the id column of items.csv / users.csv (default `item_id` / `user_id`).
    kinds: "item" / "user" -> attribute kind overrides; other attributes are inferred.
    """

    columns: dict[str, str | None] = field(default_factory=dict)
    id_columns: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, dict[str, AttributeKind]] = field(default_factory=dict)

    def roles(self, frame: pd.DataFrame) -> tuple[RoleMapping, dict[str, str]]:
        """The role mapping for an interactions file, and the roles guessed for it: a role not named here takes
        its canonical column, or when the file has none (a public data set as published: 'User-ID', 'ISBN',
        'Book-Rating'; or no header line at all) the column `detect_roles` guesses, as the Data page does."""
        canonical = {"user": "user_id", "item": "item_id"}
        present = {str(c) for c in frame.columns}
        chosen = {role: self.columns[role] if role in self.columns
                  else (canonical.get(role, role) if canonical.get(role, role) in present else None)
                  for role in ROLES}
        guesses = detect_roles(frame).as_dict()
        guessed: dict[str, str] = {}
        for role in ROLES:
            guess = guesses[role]
            if role not in self.columns and chosen[role] is None and guess is not None \
                    and guess not in chosen.values():
                chosen[role] = guessed[role] = guess
        return RoleMapping(**chosen), guessed

    def id_column(self, side: str, table: pd.DataFrame, interactions_column: str | None) -> str:
        """The id column of items.csv / users.csv: as named here, else as `guess_id_column` guesses."""
        if side in self.id_columns:
            return self.id_columns[side]
        return guess_id_column(side, [str(c) for c in table.columns], interactions_column)


def read_canonical_result(path: str | Path, options: IntakeOptions = IntakeOptions(),
                          mapping: FolderMapping = FolderMapping()) -> IntakeResult:
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
    roles, guessed = mapping.roles(interactions.frame)
    said = [f"{role} '{column}'" for role, column in guessed.items()]
    tables: dict[str, list[AttributeInput]] = {}
    for side, file in (("item", ITEMS_FILE), ("user", USERS_FILE)):
        tables[side] = []
        for table_path in _attribute_files(folder, file):
            raw = read_path(table_path)
            id_column = mapping.id_column(side, raw.frame, getattr(roles, side))
            if id_column != f"{side}_id" and side not in mapping.id_columns:
                said.append(f"{table_path.name} keyed by '{id_column}'")
            tables[side].append(AttributeInput(raw.frame, id_column, dict(mapping.kinds.get(side, {})),
                                               label=table_path.name, first_row=raw.first_row))
    result = build_dataset(interactions.frame, roles, options, items=tables["item"], users=tables["user"],
                           name=folder.name, label=INTERACTIONS_FILE, first_row=interactions.first_row)
    if said:
        result.warnings.insert(0, DataWarning(
            f"Columns not named as in the canonical layout were guessed: {', '.join(said)}", str(folder),
            "If a guess is wrong, name the column (on the command line: --column ROLE=COLUMN, --items-id COLUMN, "
            "--users-id COLUMN)"))
    return result


def _attribute_files(folder: Path, file: str) -> list[Path]:
    """items.csv, then items.NAME.csv files in name order: one side's attribute tables."""
    stem = Path(file).stem
    extra = sorted(p for p in folder.glob(f"{stem}.*.csv") if p.is_file())
    return [p for p in [folder / file] if p.is_file()] + extra


def read_canonical_folder(path: str | Path, options: IntakeOptions = IntakeOptions(),
                          mapping: FolderMapping = FolderMapping()) -> Dataset:
    """The validated `Dataset` stored in a canonical folder; raises `DataError` for a missing or unusable folder."""
    return read_canonical_result(path, options, mapping).dataset
