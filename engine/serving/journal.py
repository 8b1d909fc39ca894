"""Append-only JSON-lines files that survive a crash: a record is on disk (fsync'd) before anyone is told it is."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class JsonLinesJournal:
    """One JSON object a line; `append` returns only after the line reached the disk, so a 2xx answer given after
    it never loses the record, even if the process dies right after."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        """Write `record` as one line, flush and fsync it (serialised: concurrent requests never interleave)."""
        line = json.dumps(record, default=str, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())

    def records(self) -> list[dict[str, Any]]:
        """Every complete record so far; a line torn by a crash mid-write is skipped with a warning."""
        if not self.path.is_file():
            return []
        out = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                log.warning("%s line %d is not JSON (torn by a crash?); skipped", self.path, number)
        return out
