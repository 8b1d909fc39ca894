"""Keyed hashes of user ids, and the list of forgotten users every process (app, CLI, servers) reads.

A plain sha256 of a small id space (MovieLens users are 1..943) is reversed by hashing every candidate, so the hash
is an HMAC with a secret salt kept in the data folder (created once, readable by its owner only). The same salt
serves request logs and the forgotten list, so a server can tell a forgotten user from the hash alone.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path
from typing import Callable

from engine.settings import get_settings

SALT_FILE = "salt"
FORGOTTEN_FILE = "forgotten.txt"
_salts: dict[Path, bytes] = {}


def privacy_dir() -> Path:
    """`COLDSTART_HOME/privacy/`: the salt and the forgotten list."""
    return get_settings().home / "privacy"


def _salt(folder: Path) -> bytes:
    salt = _salts.get(folder)
    if salt is None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / SALT_FILE
        try:  # O_EXCL: two processes starting together agree on one salt
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(handle, "w") as out:
                out.write(secrets.token_hex(32))
                out.flush()
                os.fsync(out.fileno())
        salt = bytes.fromhex(path.read_text().strip())
        _salts[folder] = salt
    return salt


def user_hasher(folder: Path | None = None) -> Callable[[str], str]:
    """`user_hash` bound to the salt of `folder` (default: the data folder's privacy folder as it is now), for a
    long-running server that hashes on every request: reading the settings per call cost ten times the hash."""
    salt = _salt(folder if folder is not None else privacy_dir())
    return lambda user_id: hmac.new(salt, str(user_id).encode(), hashlib.sha256).hexdigest()[:32]


def user_hash(user_id: str) -> str:
    """The user's keyed hash (32 hex characters): stable within one data folder, meaningless outside it."""
    return user_hasher()(user_id)


def record_forgotten(dataset_ids: list[int], hashed: str) -> None:
    """Add a hashed user to the forgotten list for these datasets, on disk (fsync'd) before returning."""
    folder = privacy_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / FORGOTTEN_FILE, "a", encoding="utf-8") as out:
        out.write("".join(f"{dataset_id} {hashed}\n" for dataset_id in dataset_ids))
        out.flush()
        os.fsync(out.fileno())


class ForgottenUsers:
    """The forgotten users of one dataset, re-read whenever the list file changes: a `stat` per question, so a
    running server stops answering for a user the moment anyone (the app, the CLI, another server) forgets them."""

    def __init__(self, dataset_id: int) -> None:
        self.dataset_id = dataset_id
        folder = privacy_dir()
        self.path = folder / FORGOTTEN_FILE
        self._hash = user_hasher(folder)
        self._seen: tuple[int, int] | None = None
        self._hashes: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def __contains__(self, user_id: str) -> bool:
        self._refresh()
        return bool(self._hashes) and self._hash(user_id) in self._hashes

    def size(self) -> int:
        """How many users of the dataset were forgotten."""
        self._refresh()
        return len(self._hashes)

    def _refresh(self) -> None:
        try:
            status = self.path.stat()
        except FileNotFoundError:
            return
        stamp = (status.st_mtime_ns, status.st_size)
        if stamp == self._seen:
            return
        with self._lock:
            prefix = f"{self.dataset_id} "
            lines = self.path.read_text(encoding="utf-8").splitlines()
            self._hashes = frozenset(line[len(prefix):] for line in lines if line.startswith(prefix))
            self._seen = stamp
