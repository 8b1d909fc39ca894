"""Who is alive: supervisor heartbeats in the `workers` table and checks on the processes runs name.

A supervisor is alive while its heartbeat is fresh. A run lives in its own child process, so it survives its
supervisor dying (the app's own supervisor stops its runs on purpose when the app exits). A running run is "worker
lost" when nobody is left to finish it: on this host, when its process and its supervisor are both gone; for a run on
another host, when its own heartbeat has gone stale.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

import psutil
from sqlalchemy import select, update

from engine.jobs.queue import remove_run_artifact
from engine.jobs.transactions import immediate_session, with_lock_retry
from engine.store.db import session_scope
from engine.store.tables import RunRow, WorkerRow, utcnow

HEARTBEAT_S = 1.0
"""How often supervisors and run children write their heartbeat."""
STALE_AFTER_S = 10.0
"""A heartbeat older than this means the process is gone (or frozen), with room for a busy database."""
WORKER_LOST = "worker lost: the process running this run stopped without recording a result; re-run it"


def new_worker_id() -> str:
    """A unique supervisor id that says where it runs: host-pid-random."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def is_fresh(heartbeat_at: datetime | None, now: datetime | None = None) -> bool:
    """True when a heartbeat is recent enough to trust that its writer is alive."""
    return heartbeat_at is not None and (now or utcnow()) - heartbeat_at < timedelta(seconds=STALE_AFTER_S)


def register_worker(worker_id: str) -> None:
    """Add this supervisor's row, with a first heartbeat."""
    def write() -> None:
        with session_scope() as session:
            session.add(WorkerRow(id=worker_id, pid=os.getpid(), host=socket.gethostname()))

    with_lock_retry(write)


def beat_worker(worker_id: str) -> None:
    """Refresh this supervisor's heartbeat."""
    def write() -> None:
        with session_scope() as session:
            session.execute(update(WorkerRow).where(WorkerRow.id == worker_id).values(heartbeat_at=utcnow()))

    with_lock_retry(write)


def stop_worker(worker_id: str) -> None:
    """Mark a supervisor as stopped on a clean shutdown, so nobody waits for its heartbeat to go stale."""
    def write() -> None:
        with session_scope() as session:
            session.execute(update(WorkerRow).where(WorkerRow.id == worker_id).values(stopped=True))

    with_lock_retry(write)


def live_workers() -> list[WorkerRow]:
    """Supervisors with a fresh heartbeat that have not stopped."""
    with session_scope() as session:
        rows = session.scalars(select(WorkerRow).where(WorkerRow.stopped.is_(False))).all()
    now = utcnow()
    return [row for row in rows if is_fresh(row.heartbeat_at, now)]


def process_alive(pid: int | None) -> bool:
    """True when `pid` names a live (not zombie) process on this host."""
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _live_worker_ids() -> set[str]:
    """Supervisors that are alive: fresh heartbeat, not stopped, and (on this host) a live process."""
    here = socket.gethostname()
    return {w.id for w in live_workers() if w.host != here or process_alive(w.pid)}


def _is_lost(row: RunRow, live_workers_now: set[str], now: datetime) -> bool:
    """Whether nobody is left to finish a running run.

    On this host the processes themselves are asked: the run is lost when its child is gone and so is the
    supervisor that would reap it (that supervisor gives a better reason). Elsewhere only heartbeats can tell.
    """
    if row.pid is not None and _ran_here(row):
        return not process_alive(row.pid) and row.worker_id not in live_workers_now
    return not is_fresh(row.heartbeat_at, now)


def fail_lost_runs(exclude: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """Mark running runs that nobody will finish as failed ("worker lost"); returns their ids.

    Runs in `exclude` (the caller's own children, which it reaps itself) are left alone. A cancelled run that
    was lost ends "cancelled", as its user asked.
    """
    # a plain read first: the write lock is taken only when something looks lost
    with session_scope() as session:
        running = list(session.scalars(select(RunRow).where(RunRow.status == "running")))
    running = [row for row in running if row.id not in exclude]
    if not running:
        return []
    alive = _live_worker_ids()
    now = utcnow()
    suspects = [row.id for row in running if _is_lost(row, alive, now)]
    if not suspects:
        return []

    def write() -> list[int]:
        lost = []
        with immediate_session() as session:
            now = utcnow()
            for row in session.scalars(select(RunRow).where(RunRow.id.in_(suspects), RunRow.status == "running")
                                       .with_for_update()):
                if not _is_lost(row, alive, now):
                    continue
                if row.cancel_requested:
                    row.status, row.message, row.error = "cancelled", "cancelled", None
                else:
                    row.status, row.message, row.error = "failed", "worker lost", WORKER_LOST
                row.finished_at = now
                lost.append(row.id)
        return lost

    lost = with_lock_retry(write)
    for run_id in lost:
        remove_run_artifact(run_id)
    return lost


def _ran_here(row: RunRow) -> bool:
    """Whether the run's supervisor (named host-pid-random) runs on this host."""
    return (row.worker_id or "").rsplit("-", 2)[0] == socket.gethostname()
