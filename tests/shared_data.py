"""Where the reference data lives: `../shared` beside the project, read in place and never copied in (MovieLens'
terms forbid redistributing it). Tests reach it through the `ml100k_dir` fixture, benchmarks through these paths."""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
ML100K = SHARED / "data" / "ml-100k"
"""MovieLens 100K in the canonical folder layout (interactions.csv, users.csv, items.csv)."""
ML100K_SPLITS = SHARED / "splits" / "ml-100k"
"""The reference split files of MovieLens 100K (issue 14's bar)."""
