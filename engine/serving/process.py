"""Run the API as a process: `serve_forever` (what `python -m engine serve` does) and, for the app's buttons,
servers started as child processes that stop with the app, listed and stopped by their process id.

A server the app starts gets `--app-pid`: like the training worker, it watches its parent and shuts down (in-flight
requests finished) when the app that started it exits. Each started server leaves an entry under
`COLDSTART_HOME/servers/` with its pid, port, run and log file, so every page and session of the app sees it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from engine.jobs.liveness import process_alive
from engine.settings import get_settings

LOOPBACK = "127.0.0.1"
STOP_GRACE_S = 10.0


class ServeError(ValueError):
    """A server that cannot start as asked (port taken, run not servable), with the reason."""


@dataclass(frozen=True)
class ServerEntry:
    """A server the app started: where it listens and where it logs."""

    pid: int
    run_id: int
    host: str
    port: int
    log_path: str
    started_at: float
    create_time: float
    """The process's start time, so a pid the system reused for another process is not taken for this server."""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class ServerStatus:
    """What a started server is doing now: `starting`, `serving` (its health answer) or `exited` (the reason)."""

    entry: ServerEntry
    state: str
    health: dict | None = None
    reason: str = ""


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def check_port_free(host: str, port: int) -> None:
    """A `ServeError` when `port` on `host` is taken, before the (slow) model load."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ServeError(f"cannot listen on {host}:{port} ({error.strerror}); pick another --port") from None


def _watch_parent(app_pid: int, stop: threading.Event, server) -> None:
    """Ask `server` to shut down once the app that started it (its parent) is gone."""
    while not stop.wait(0.5):
        if os.getppid() != app_pid:
            logging.getLogger(__name__).info("the app (pid %d) that started this server exited: stopping", app_pid)
            server.should_exit = True
            return


def serve_forever(run_id: int, host: str, port: int, app_pid: int | None = None) -> None:
    """Load run `run_id` and serve it until SIGTERM / Ctrl-C or, with `app_pid`, until that parent exits.

    Raises `ServeError` (port taken) or `ExploreError` (the run cannot be served: the reason) before listening.
    Request lines go to stderr with user ids as keyed hashes; uvicorn's access log (raw paths) is off.
    """
    import torch
    import uvicorn

    from engine.serving.app import create_app

    check_port_free(host, port)
    # requests run side by side on the server's threads; one intra-op thread each keeps small tensor operations
    # from fighting over the cores (on a busy 2-core machine torch's own pool made a k=20 request 6x slower)
    torch.set_num_threads(1)
    app = create_app(run_id)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("engine.serving.requests").setLevel(logging.INFO)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    stop = threading.Event()
    if app_pid is not None:
        threading.Thread(target=_watch_parent, args=(app_pid, stop, server), daemon=True).start()
    try:
        server.run()
    finally:
        stop.set()


# -- servers started by the app --------------------------------------------------------------------------------
def _servers_dir() -> Path:
    return get_settings().home / "servers"


def start_server(run_id: int, port: int | None = None, host: str = LOOPBACK) -> ServerEntry:
    """Start `python -m engine serve` for run `run_id` as a child of this process (it stops when this process
    exits); returns at once, while the server loads: `server_status` says when it answers."""
    port = port or free_port(host)
    logs = get_settings().home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"serve-run{run_id}-port{port}.log"
    with open(log_path, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--run", str(run_id), "--host", host,
                                    "--port", str(port), "--app-pid", str(os.getpid())],
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # a Ctrl-C meant for the app reaches only the app
    entry = ServerEntry(process.pid, int(run_id), host, port, str(log_path), time.time(),
                        psutil.Process(process.pid).create_time())
    folder = _servers_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{process.pid}.json").write_text(json.dumps(asdict(entry)))
    return entry


def _log_tail(path: str, lines: int = 3) -> str:
    try:
        text = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " ".join(text[-lines:])


def _alive(entry: ServerEntry) -> bool:
    if not process_alive(entry.pid):
        try:  # our own child: reap it, so it does not linger as a zombie
            os.waitpid(entry.pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    try:
        return abs(psutil.Process(entry.pid).create_time() - entry.create_time) < 1.0
    except psutil.Error:
        return False


def fetch_health(url: str, timeout_s: float = 1.0) -> dict | None:
    """The server's `/health` answer, or None while it does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout_s) as response:
            return json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None


def server_status(entry: ServerEntry) -> ServerStatus:
    """Whether the server is starting, serving (with its health answer: the run served now) or has exited."""
    if not _alive(entry):
        return ServerStatus(entry, "exited", reason=_log_tail(entry.log_path) or "it exited without a message")
    health = fetch_health(entry.url)
    return ServerStatus(entry, "serving", health) if health is not None else ServerStatus(entry, "starting")


def list_servers() -> list[ServerStatus]:
    """Every server the app started that has not been stopped, newest first."""
    folder = _servers_dir()
    entries = []
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            entries.append(ServerEntry(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            path.unlink(missing_ok=True)  # a torn entry names no server we could reach
    return [server_status(entry) for entry in sorted(entries, key=lambda e: e.started_at, reverse=True)]


def stop_server(pid: int) -> None:
    """Stop a server the app started (SIGTERM: in-flight requests finish; SIGKILL after a grace period) and
    forget its entry."""
    path = _servers_dir() / f"{int(pid)}.json"
    try:
        entry = ServerEntry(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        path.unlink(missing_ok=True)
        return
    if _alive(entry):
        os.kill(entry.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while _alive(entry) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(entry):
            os.kill(entry.pid, signal.SIGKILL)
    path.unlink(missing_ok=True)


def wait_until_serving(entry: ServerEntry, timeout_s: float = 60.0) -> ServerStatus:
    """Poll until the server answers or exits (or `timeout_s` passes: then it is still starting)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = server_status(entry)
        if status.state != "starting" or time.monotonic() >= deadline:
            return status
        time.sleep(0.3)


def request_swap(url: str, run_id: int, timeout_s: float = 120.0) -> dict:
    """Ask the server at `url` to serve run `run_id` (`POST /admin/swap`, with `COLDSTART_API_KEY` when set);
    its answer, or a `ServeError` with the server's reason."""
    headers = {"Content-Type": "application/json"}
    if key := get_settings().api_key:
        headers["X-API-Key"] = key
    request = urllib.request.Request(f"{url}/admin/swap", data=json.dumps({"run_id": int(run_id)}).encode(),
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            detail = json.loads(error.read()).get("detail", error.reason)
        except ValueError:
            detail = error.reason
        raise ServeError(f"the server refused to swap to run {run_id}: {detail}") from None
    except (OSError, ValueError) as error:
        raise ServeError(f"the server at {url} did not answer ({error})") from None
