"""Structured log lines for the worker and the command line: one format, an event name, then `key=value` fields.

    2026-12-07 03:58:01,120 INFO coldstart.supervisor run_finished run_id=12 model=bpr status=done seconds=41.07

A line reads at a glance and parses with a split: values with spaces or quotes are quoted (JSON string rules), so
`grep 'run_failed'` finds every failure and `run_id=12` every line of one run.
"""

from __future__ import annotations

import json
import logging
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr in `FORMAT` (the worker's and the CLI's entry points call this; a caller's own setup wins)."""
    logging.basicConfig(level=level, format=FORMAT)


def format_fields(fields: dict[str, Any]) -> str:
    """`key=value` pairs in the order given; floats to 2 decimals, text with spaces, quotes or `=` quoted."""
    parts = []
    for key, value in fields.items():
        if isinstance(value, float):
            text = f"{value:.2f}"
        else:
            text = str(value)
            if not text or any(c in text for c in ' "=\n\t'):
                text = json.dumps(text)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One structured line: `event key=value ...`."""
    if logger.isEnabledFor(level):
        logger.log(level, "%s %s", event, format_fields(fields))
