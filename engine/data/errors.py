"""Errors and warnings about user data that say what is wrong, where, and how to fix it.

Pages show `str(error)` directly, so the one-line form must make sense to a person who never saw the code.
"""

from __future__ import annotations

from dataclasses import dataclass


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
