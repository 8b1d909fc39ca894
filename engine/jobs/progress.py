"""Progress of a run, written to the database from its child process at a modest rate.

Models report as often as they like; events are buffered and a background thread writes them, with the run's
progress, message and heartbeat, in one short transaction per second. The same write reads `cancel_requested`, so a
cancel from the page reaches the training loop through `should_stop` (cooperative cancel) within about a second.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field

from sqlalchemy import insert, select, update

from engine.jobs.liveness import HEARTBEAT_S
from engine.jobs.transactions import with_lock_retry
from engine.store.db import session_scope
from engine.store.tables import RunEventRow, RunRow, utcnow


def format_seconds(seconds: float) -> str:
    """A short duration for people: 42 s, 3 min 05 s, 1 h 02 min."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def training_fraction(epoch: int, n_epochs: int, step: int | None = None, n_steps: int | None = None) -> float:
    """How much of training is done, from the epoch (1-based) and, mid-epoch, the step within it."""
    if n_epochs <= 0:
        return 0.0
    within = step / n_steps if step is not None and n_steps else 1.0
    return min(1.0, max(0.0, (epoch - 1 + within) / n_epochs))


@dataclass
class _Pending:
    """What is waiting for the next write: events (step events coalesced to the latest) and the run's summary."""

    events: list[dict] = field(default_factory=list)
    progress: float | None = None
    message: str | None = None


class RunProgress:
    """The `ProgressReporter` a run's child hands to its model; also its heartbeat and its cancel flag."""

    def __init__(self, run_id: int, write_every_s: float = HEARTBEAT_S) -> None:
        self.run_id = run_id
        self.write_every_s = write_every_s
        self.cancel = threading.Event()
        self._pending = _Pending()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._write_loop, name=f"run-{run_id}-progress", daemon=True)

    # -- ProgressReporter ----------------------------------------------------------------------------------------
    def report(self, *, epoch: int, n_epochs: int, loss: float | None = None, metric: float | None = None,
               step: int | None = None, n_steps: int | None = None) -> None:
        """Record an epoch (step None) or a mid-epoch step; the message carries loss and metric (the page estimates
        the time left from the events, engine.jobs.observe)."""
        done = training_fraction(epoch, n_epochs, step, n_steps)
        parts = [f"epoch {epoch}/{n_epochs}"]
        if step is not None and n_steps:
            parts.append(f"step {step}/{n_steps}")
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        if metric is not None:
            parts.append(f"validation {metric:.4f}")
        event = dict(kind="progress", at=utcnow(), epoch=epoch, n_epochs=n_epochs, step=step, n_steps=n_steps,
                     loss=loss, metric=metric, message=" · ".join(parts))
        with self._lock:
            events = self._pending.events
            # only the latest mid-epoch step is worth keeping; every epoch end is kept for the curves
            if step is not None and events and events[-1]["step"] is not None and events[-1]["kind"] == "progress":
                events[-1] = event
            else:
                events.append(event)
            self._pending.progress, self._pending.message = done, event["message"]

    def log(self, message: str) -> None:
        """Record a log line shown under the run."""
        with self._lock:
            self._pending.events.append(dict(kind="log", at=utcnow(), epoch=None, n_epochs=None, step=None,
                                             n_steps=None, loss=None, metric=None, message=message))
            self._pending.message = message

    def should_stop(self) -> bool:
        """True once the run was cancelled (from the page, or by SIGTERM)."""
        return self.cancel.is_set()

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> "RunProgress":
        """Begin heartbeats and periodic writes."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the writer thread and write what is left, so the page sees every event before the final state."""
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join()
        try:
            self.write()
        except Exception as error:  # the run's final state matters more than its last progress line
            print(f"run {self.run_id}: last progress write failed: {error}", file=sys.stderr)

    def write(self) -> None:
        """Write pending events, progress, message and a heartbeat; pick up a cancel request."""
        with self._lock:
            pending, self._pending = self._pending, _Pending()

        def transaction() -> bool:
            with session_scope() as session:
                now = utcnow()
                if pending.events:
                    session.execute(insert(RunEventRow), [{**e, "run_id": self.run_id} for e in pending.events])
                values: dict = {"heartbeat_at": now}
                if pending.progress is not None:
                    values["progress"] = pending.progress
                if pending.message is not None:
                    values["message"] = pending.message
                session.execute(update(RunRow).where(RunRow.id == self.run_id, RunRow.status == "running")
                                .values(**values))
                return bool(session.scalar(select(RunRow.cancel_requested).where(RunRow.id == self.run_id)))

        try:
            if with_lock_retry(transaction):
                self.cancel.set()
        except Exception:
            # keep what was not written for the next attempt rather than losing curve points
            with self._lock:
                self._pending.events[:0] = pending.events
                if self._pending.progress is None:
                    self._pending.progress = pending.progress
                if self._pending.message is None:
                    self._pending.message = pending.message
            raise

    def _write_loop(self) -> None:
        while not self._closing.wait(self.write_every_s):
            try:
                self.write()
            except Exception as error:  # a background writer must outlive a bad moment of the database
                print(f"run {self.run_id}: progress write failed, will retry: {error}", file=sys.stderr)
