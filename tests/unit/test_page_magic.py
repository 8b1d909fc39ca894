"""No page writes its own notes on screen. Streamlit's magic draws every bare string of a page script that is not
a docstring, so a constant's explanatory string after it ("Keys (after 'upload-') of the choices drawn...") opened
the Data page above its title."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "pages").glob("*.py")) + [ROOT / "app.py"]
DOCUMENTED = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def drawn_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, start) of every bare string statement that is not the docstring of a module, function or class."""
    found = []
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(node, field, None)
            if not isinstance(statements, list):
                continue
            for position, statement in enumerate(statements):
                docstring = position == 0 and field == "body" and isinstance(node, DOCUMENTED)
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
                        and isinstance(statement.value.value, str) and not docstring:
                    found.append((statement.lineno, statement.value.value[:60]))
    return found


def test_the_check_finds_a_constants_string_and_spares_docstrings() -> None:
    tree = ast.parse('"""page"""\nX = 1\n"""about X"""\ndef f():\n    """doc"""\n    if X:\n        "drawn"\n')
    assert drawn_strings(tree) == [(3, "about X"), (7, "drawn")]


def test_no_page_script_holds_a_bare_string_that_streamlit_would_draw() -> None:
    drawn = {script.name: found for script in SCRIPTS if (found := drawn_strings(ast.parse(script.read_text())))}
    assert drawn == {}
