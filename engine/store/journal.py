"""Append-only JSON-lines files that survive a crash: a record is on disk (fsync'd) before anyone is told it is.

Concurrent appends share one fsync (group commit): while one thread writes and syncs a batch, the records that
arrive queue up and go out together in the next one, and every caller returns only once its own batch is on disk.
So durability per acknowledged record is kept while the disk sees one flush per batch, not one per request.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from engine.settings import get_settings

log = logging.getLogger(__name__)


@dataclass
class _Batch:
    """Lines waiting for the same write and fsync, and how that went."""

    lines: list[str] = field(default_factory=list)
    done: bool = False
    error: BaseException | None = None


def _fsync_folder(folder: Path) -> None:
    """Make a file's creation or replacement durable too (its entry lives in the folder)."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


class JsonLinesJournal:
    """One JSON object a line; `append` returns only after the line reached the disk, so a 2xx answer given after
    it never loses the record, even if the process dies right after. `rewrite` (used to forget a user) takes the
    same file lock as appends, in this and other processes, and swaps in the new file atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cond = threading.Condition()
        self._open: _Batch | None = None
        self._writing = False

    def append(self, record: dict[str, Any]) -> None:
        """Write `record` as one line; returns once it is fsync'd (raises what the write raised otherwise)."""
        self.extend([record])

    def extend(self, records: list[dict[str, Any]]) -> None:
        """Write `records`, one line each, in the same batch; returns once they are all fsync'd."""
        if not records:
            return
        lines = [json.dumps(record, default=str, ensure_ascii=False) + "\n" for record in records]
        with self._cond:
            batch = self._open if self._open is not None else _Batch()
            self._open = batch
            batch.lines.extend(lines)
            while not batch.done:
                if self._writing:
                    self._cond.wait()
                    continue
                self._open, self._writing = None, True  # this thread writes the batch, with whatever joined it
                self._cond.release()
                try:
                    self._write("".join(batch.lines))
                except BaseException as error:  # every caller of the batch is told; nothing is acknowledged
                    batch.error = error
                finally:
                    self._cond.acquire()
                    self._writing, batch.done = False, True
                    self._cond.notify_all()
        if batch.error is not None:
            raise batch.error

    def _write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            created = not self.path.exists()
            with self.path.open("a", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    if os.fstat(handle.fileno()).st_ino != os.stat(self.path).st_ino:
                        continue  # rewritten (a user forgotten) while we waited for the lock: append to the new file
                    handle.write(text)
                    handle.flush()
                    os.fdatasync(handle.fileno())  # data and size (all a reader needs), not the times
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
            if created:
                _fsync_folder(self.path.parent)
            return

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

    def count(self) -> int:
        """How many lines the journal holds (records, counted without parsing them)."""
        if not self.path.is_file():
            return 0
        with self.path.open("rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))

    def rewrite(self, keep: Callable[[dict[str, Any]], bool]) -> int:
        """Keep only the records for which `keep` is true (written to a new file, fsync'd, renamed over the old one
        under the append lock); returns how many were removed."""
        if not self.path.is_file():
            return 0
        with self.path.open("a", encoding="utf-8") as locked:
            fcntl.flock(locked, fcntl.LOCK_EX)
            try:
                records = self.records()
                kept = [record for record in records if keep(record)]
                if len(kept) == len(records):
                    return 0
                staging = self.path.with_name(f".{self.path.name}.rewrite")
                with staging.open("w", encoding="utf-8") as out:
                    out.writelines(json.dumps(r, default=str, ensure_ascii=False) + "\n" for r in kept)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(staging, self.path)
                _fsync_folder(self.path.parent)
                return len(records) - len(kept)
            finally:
                fcntl.flock(locked, fcntl.LOCK_UN)


def serving_folder(run_id: int) -> Path:
    """Where a served run keeps its journals: `COLDSTART_HOME/artifacts/run-ID/serving/`."""
    return get_settings().run_dir(run_id) / "serving"


def feedback_journal(run_id: int) -> JsonLinesJournal:
    """The feedback events posted while serving run `run_id`."""
    return JsonLinesJournal(serving_folder(run_id) / "feedback.jsonl")


def items_journal(run_id: int) -> JsonLinesJournal:
    """The items added while serving run `run_id` (replayed when it is served again)."""
    return JsonLinesJournal(serving_folder(run_id) / "items.jsonl")
