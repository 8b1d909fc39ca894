"""Serve one finished run over HTTP: `create_app(run_id)` for a FastAPI app, `python -m engine serve` to run it.

FastAPI and uvicorn are imported only when the app is built (`create_app`, `serve`): the rest of the engine (the
journal, feedback counts, forgetting) uses this package's plain modules without them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from engine.serving.app import create_app

        return create_app
    raise AttributeError(f"module 'engine.serving' has no attribute {name!r}")
