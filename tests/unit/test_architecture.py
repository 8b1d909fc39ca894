"""The engine must run headless (worker processes, GPU machines, the CLI): it never imports Streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_engine_never_imports_streamlit_or_plotly():
    offenders = [
        str(path.relative_to(ENGINE.parent))
        for path in sorted(ENGINE.rglob("*.py"))
        if _imported_modules(path) & {"streamlit", "plotly"}
    ]
    assert offenders == []


def test_engine_source_files_exist_to_check():
    assert len(list(ENGINE.rglob("*.py"))) >= 10
