"""Errors and warnings about user data that say what is wrong, where, and how to fix it.

Pages show `str(error)` directly, so the one-line form must make sense to a person who never saw the code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _sentence(what: str, where: str, fix: str) -> str:
    parts = [what.rstrip(".")]
    if where:
        parts.append(f"({where.rstrip('.')})")
    text = " ".join(parts) + "."
    return f"{text} {fix.rstrip('.')}." if fix else text


class DataError(ValueError):
    """Input data that cannot be used: `what` went wrong, `where` (file, column, rows), and how to `fix` it."""

    def __init__(self, what: str, where: str = "", fix: str = "") -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(_sentence(what, where, fix))

    def __str__(self) -> str:
        return _sentence(self.what, self.where, self.fix)


@dataclass(frozen=True)
class DataWarning:
    """Something accepted but worth telling the user (duplicate rows resolved, ids without interactions)."""

    what: str
    where: str = ""
    fix: str = ""

    def __str__(self) -> str:
        return _sentence(self.what, self.where, self.fix)


def row_examples(row_numbers, limit: int = 5) -> str:
    """'rows 3, 8 and 12' style text naming at most `limit` file rows, plus how many more there are."""
    numbers = [int(n) for n in list(row_numbers)[: limit + 1]]
    total = len(row_numbers)
    shown = numbers[:limit]
    if not shown:
        return ""
    label = "row" if total == 1 else "rows"
    text = ", ".join(str(n) for n in shown)
    if total > len(shown):
        text += f" and {total - len(shown)} more"
    return f"{label} {text}"


def value_examples(values, mask, rows: int | np.ndarray, limit: int = 3, width: int = 40) -> str:
    """"'five' (row 3), 'x' (row 9) and 34 more": a few of the values `mask` flags, with their file rows.

    `values` and `mask` are aligned by position; `rows` is the file row number of position 0, or of every position
    (a table whose rows were filtered). Long values are cut to `width` characters and say how long they really
    are, so a message never repeats a 10,000-character cell.
    """
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    file_rows = positions + rows if isinstance(rows, int) else np.asarray(rows)[positions]
    shown = []
    for position, row in zip(positions[:limit], file_rows[:limit]):
        text = str(values.iloc[position])
        if len(text) > width:
            text = f"{text[:width]}… ({len(text):,} characters)"
        shown.append(f"'{text}' (row {row})")
    if len(positions) > limit:
        shown.append(f"{len(positions) - limit:,} more")
    return ", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else "".join(shown)
