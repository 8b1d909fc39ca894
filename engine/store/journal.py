"""Append-only JSON-lines files that survive a crash: a record is on disk (fsync'd) before anyone is told it is.

Appends are group-committed by one writer thread per journal: records queue while it writes and syncs a batch and
go out together in the next one (one write and one `fdatasync`), and each caller's future completes only once its
own batch is on disk. A caller on an event loop awaits that future (`asyncio.wrap_future(journal.submit(...))`)
instead of parking a thread per record: the serving API's feedback then costs no thread-pool hop per request.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any, Callable

from engine.settings import get_settings

log = logging.getLogger(__name__)

WRITER_IDLE_SECONDS = 5.0
"""How long a journal's writer thread waits for the next record before it closes the file and exits."""


def _fsync_folder(folder: Path) -> None:
    """Make a file's creation or replacement durable too (its entry lives in the folder)."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


class JsonLinesJournal:
    """One JSON object a line; a record's future (`submit`) completes, and `append` returns, only after the line
    reached the disk, so a 2xx answer given after it never loses the record, even if the process dies right after.
    `rewrite` (used to forget a user) takes the same file lock as the writer, in this and other processes, and
    swaps in the new file atomically; the writer notices the new file and appends there."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queued: list[str] = []
        self._batch: Future[None] = Future()
        """Completes when the lines queued now are on disk (replaced by a fresh one as the writer takes them)."""
        self._writer: threading.Thread | None = None

    def submit(self, records: list[dict[str, Any]]) -> Future[None]:
        """Queue `records`, one line each, for the writer's next batch; the future completes once they are fsync'd
        (or carries what the write raised: then none of the batch is acknowledged)."""
        lines = [json.dumps(record, default=str, ensure_ascii=False) + "\n" for record in records]
        with self._lock:
            self._queued.extend(lines)
            batch = self._batch
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_batches, name=f"journal {self.path.name}",
                                                daemon=True)
                self._writer.start()
            else:
                self._wake.notify()
        return batch

    def append(self, record: dict[str, Any]) -> None:
        """Write `record` as one line; returns once it is fsync'd (raises what the write raised otherwise)."""
        self.extend([record])

    def extend(self, records: list[dict[str, Any]]) -> None:
        """Write `records`, one line each, in the same batch; returns once they are all fsync'd."""
        if records:
            self.submit(records).result()

    def _write_batches(self) -> None:
        """The writer thread: everything queued, one write and one fdatasync a batch, until idle for a while."""
        handle: IO[str] | None = None
        try:
            while True:
                with self._lock:
                    if not self._queued:
                        self._wake.wait(WRITER_IDLE_SECONDS)
                    if not self._queued:
                        self._writer = None
                        return
                    lines, batch = self._queued, self._batch
                    self._queued, self._batch = [], Future()
                try:
                    handle = self._write("".join(lines), handle)
                except BaseException as error:  # every caller of the batch is told; nothing is acknowledged
                    if handle is not None:
                        handle.close()
                        handle = None
                    batch.set_exception(error)
                else:
                    batch.set_result(None)
        finally:
            if handle is not None:
                handle.close()

    def _write(self, text: str, handle: IO[str] | None) -> IO[str]:
        """Append `text` through `handle` (opened now when None, or reopened when the file was replaced) and
        fdatasync it; returns the handle to keep for the next batch."""
        while True:
            created = False
            if handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                created = not self.path.exists()
                handle = self.path.open("a", encoding="utf-8")
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                try:
                    replaced = os.fstat(handle.fileno()).st_ino != os.stat(self.path).st_ino
                except FileNotFoundError:
                    replaced = True
                if not replaced:
                    handle.write(text)
                    handle.flush()
                    os.fdatasync(handle.fileno())  # data and size (all a reader needs), not the times
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
            if replaced:  # rewritten (a user forgotten) since we opened it: append to the new file
                handle.close()
                handle = None
                continue
            if created:
                _fsync_folder(self.path.parent)
            return handle

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
