"""Tables written as a dataset folder in the canonical layout, the folder `evaluate --data` and the Data page read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.data.canonical import INTERACTIONS_FILE, ITEMS_FILE, USERS_FILE


def write_canonical_folder(folder: Path, interactions: pd.DataFrame, items: pd.DataFrame | None = None,
                           users: pd.DataFrame | None = None) -> Path:
    """Write `interactions` and whichever attribute tables are given as CSV files (no index) into `folder`, created
    when missing; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in ((INTERACTIONS_FILE, interactions), (ITEMS_FILE, items), (USERS_FILE, users)):
        if table is not None:
            table.to_csv(folder / name, index=False)
    return folder
