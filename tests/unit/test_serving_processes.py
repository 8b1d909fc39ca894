"""The server as a real process: `kill -9` while feedback is posted loses no acknowledged event, two servers for two
runs run side by side, a run whose artifact no longer loads is refused at start with the reason, and a server the
app started stops with the app."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx2 as httpx  # the client Starlette's TestClient also uses (requirements.txt)
import psutil
import pytest

from engine.data.synthetic import generate_synthetic
from engine.serving.process import free_port, list_servers, start_server, stop_server, wait_until_serving
from engine.serving.service import ServedRun
from engine.settings import get_settings
from engine.store.journal import feedback_journal
from tests.explore_seed import finished_runs, runs_to_serve

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    with runs_to_serve(tmp_path_factory.mktemp("serving-processes") / "home", ("itemknn", "mapper"), "cold-item",
                       generate_synthetic(60, 40, 900, seed=5)) as run_ids:
        yield run_ids


def _serve(run_id: int) -> tuple[subprocess.Popen, str]:
    """`python -m engine serve` on a free loopback port, once it answers /health."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--run", str(run_id), "--port", str(port)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, f"the server did not answer within {START_TIMEOUT_S} s"
        time.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
    process.wait(timeout=30)
    process.stderr.close()


def test_kill_9_while_feedback_is_posted_loses_no_acknowledged_event(runs):
    run_id = runs["itemknn"]
    item = str(ServedRun.load(run_id).context.data.item_ids[0])
    process, url = _serve(run_id)
    acknowledged: list[str] = []
    lock = threading.Lock()

    def post(worker: int) -> None:
        with httpx.Client(timeout=10) as client:
            for n in range(10_000):
                event_id = f"visitor-{worker}-{n}"
                try:
                    reply = client.post(f"{url}/feedback", json={"user_id": event_id, "item_id": item, "event": "view"})
                except httpx.TransportError:
                    return  # the server is gone
                if reply.status_code == 201:
                    with lock:
                        acknowledged.append(event_id)

    threads = [threading.Thread(target=post, args=(worker,)) for worker in range(8)]
    try:
        for thread in threads:
            thread.start()
        while len(acknowledged) < 150:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        for thread in threads:
            thread.join(30)
    finally:
        _stop(process)
    assert process.returncode == -signal.SIGKILL
    journalled = {record["user_id"] for record in feedback_journal(run_id).records()}
    assert len(acknowledged) >= 150 and set(acknowledged) <= journalled


def test_two_servers_for_two_runs_answer_side_by_side_on_their_ports(runs):
    first, first_url = _serve(runs["itemknn"])
    second, second_url = _serve(runs["mapper"])
    try:
        user = str(ServedRun.load(runs["itemknn"]).context.data.user_ids[0])
        for url, run_id in ((first_url, runs["itemknn"]), (second_url, runs["mapper"])):
            assert httpx.get(f"{url}/health").json()["run_id"] == run_id
            answer = httpx.post(f"{url}/recommendations/user", json={"user_id": user, "k": 3}, timeout=30)
            assert answer.status_code == 200 and answer.json()["run_id"] == run_id
    finally:
        _stop(first)
        _stop(second)


def test_a_run_whose_artifact_no_longer_loads_is_refused_at_start_with_the_reason(runs):
    _, (broken,) = finished_runs(("itemknn",), protocol="cold-item", dataset=generate_synthetic(40, 30, 500, seed=6))
    (get_settings().run_dir(broken) / "state.pt").write_bytes(b"not a tensor file")
    refused = subprocess.run([sys.executable, "-m", "engine", "serve", "--run", str(broken), "--port",
                              str(free_port())], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert f"run {broken} (itemknn): its saved model does not load" in refused.stderr
    status = wait_until_serving(start_server(broken), START_TIMEOUT_S)
    assert status.state == "exited" and "its saved model does not load" in status.reason
    stop_server(status.entry.pid)


def test_a_port_in_use_is_refused_before_the_model_loads(runs):
    process, url = _serve(runs["itemknn"])
    try:
        port = url.rsplit(":", 1)[1]
        refused = subprocess.run([sys.executable, "-m", "engine", "serve", "--run", str(runs["mapper"]), "--port",
                                  port], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in refused.stderr
    finally:
        _stop(process)


def test_a_server_started_by_the_app_is_listed_stopped_and_stops_with_the_app(runs):
    entry = start_server(runs["itemknn"])
    status = wait_until_serving(entry, START_TIMEOUT_S)
    assert status.state == "serving" and status.health["run_id"] == runs["itemknn"]
    assert [s.entry.pid for s in list_servers()] == [entry.pid]
    stop_server(entry.pid)
    assert not psutil.pid_exists(entry.pid) or psutil.Process(entry.pid).status() == psutil.STATUS_ZOMBIE
    assert list_servers() == []
    app = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from engine.serving.process import start_server, wait_until_serving
        entry = start_server({runs['mapper']})
        print(entry.pid, wait_until_serving(entry, {START_TIMEOUT_S}).state, flush=True)
        time.sleep(600)
        """)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    pid, state = app.stdout.readline().split()
    assert state == "serving"
    app.kill()  # the app dies without a word: its server notices and shuts down by itself
    app.wait(30)
    app.stdout.close()
    server = psutil.Process(int(pid))
    deadline = time.monotonic() + 30
    while server.is_running() and server.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE
