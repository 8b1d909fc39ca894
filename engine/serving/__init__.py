"""Serve one finished run over HTTP: `create_app(run_id)` for a FastAPI app, `python -m engine serve` to run it.

FastAPI and uvicorn are imported only here and by `serve`, never by the rest of the engine.
"""

from engine.serving.app import create_app

__all__ = ["create_app"]
