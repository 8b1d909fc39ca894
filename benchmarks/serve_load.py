"""Load on the serving API: requests per second, p50 and p99 latency at concurrency 1, 8 and 64.

Trains one model on all of MovieLens 100K (cold-user protocol, the app's job code run in this process) in a
throwaway data folder, starts `python -m engine serve` on a free loopback port, and drives it with an async httpx
client for a bounded time per scenario:

  known      POST /recommendations/user      a trained user, k = 20
  new-user   POST /recommendations/new-user  a new user by attributes (age, gender, occupation), k = 20
  feedback   POST /feedback                  a rating, fsync'd before the 201

Targets on a 2-core machine: p99 < 50 ms for known users and < 100 ms for new users at concurrency 8, feedback
p99 < 20 ms. The client runs on the same machine and takes its share of the CPU; each row ends with the machine's
1-minute load average when it finished, and the CPU per request of the server and of the load client (this
process): the figures other load does not change, and with two cores the two that bound throughput and latency.

Usage: .venv/bin/python benchmarks/serve_load.py [--model mapper] [--seconds 10] [--concurrency 1,8,64]
                                                 [--scenarios known,new-user,feedback]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.shared_data import ML100K  # noqa: E402


def train(model: str) -> tuple[int, list[str], list[str], list[dict]]:
    """A finished run of `model` on ML-100K; its trained users, training items and some users' attributes."""
    from engine.data.canonical import read_canonical_folder
    from engine.data.catalog import save_dataset
    from engine.jobs.child import execute_run
    from engine.jobs.queue import claim_next_run, submit_runs
    from engine.runs.experiments import create_experiment, load_split

    dataset = read_canonical_folder(ML100K)
    experiment = create_experiment(save_dataset(dataset, "ml-100k", "folder"), "cold-user", {}, 0)
    (run_id,) = submit_runs(experiment, model, {}, seeds=[0])
    claimed = claim_next_run("bench", "cpu")
    if execute_run(claimed.id) != 0:
        raise SystemExit(f"training {model} failed; see the run's log under {os.environ['COLDSTART_HOME']}")
    train_rows = load_split(experiment).train
    users = dataset.users[["age", "gender", "occupation"]].to_dict("records")
    return (run_id, sorted(train_rows["user_id"].astype(str).unique()),
            sorted(train_rows["item_id"].astype(str).unique()), users)


def start_server(run_id: int, log_path: Path) -> tuple[subprocess.Popen, str]:
    from engine.serving.process import free_port
    import httpx2 as httpx

    port = free_port()
    with open(log_path, "ab") as log:
        server = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--run", str(run_id), "--port",
                                   str(port)], cwd=ROOT, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.3)
        if server.poll() is not None:
            raise SystemExit(f"the server exited; see {log_path}")
    raise SystemExit(f"the server did not answer within 180 s; see {log_path}")


def scenarios(users: list[str], items: list[str], attributes: list[dict]) -> dict:
    """Scenario name -> (path, a function that makes one request body)."""
    counter = iter(range(10**9))
    return {
        "known": ("/recommendations/user", lambda: {"user_id": random.choice(users), "k": 20}),
        "new-user": ("/recommendations/new-user",
                     lambda: {"attributes": {k: v for k, v in random.choice(attributes).items()}, "k": 20}),
        "feedback": ("/feedback", lambda: {"user_id": f"visitor-{next(counter)}", "item_id": random.choice(items),
                                           "rating": 4}),
    }


async def drive(url: str, path: str, body, concurrency: int, seconds: float) -> tuple[list[float], int, int]:
    """`concurrency` clients posting as fast as answers come for `seconds`: latencies (ms), errors, requests."""
    import httpx2 as httpx

    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        async def one_client() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                start = time.perf_counter()
                reply = await client.post(path, json=body())
                latencies.append((time.perf_counter() - start) * 1000.0)
                errors += reply.status_code >= 300

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies, errors, len(latencies)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mapper", help="a model that serves known and new users (default mapper)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each scenario runs (default 10)")
    parser.add_argument("--concurrency", default="1,8,64", help="comma-separated client counts (default 1,8,64)")
    parser.add_argument("--scenarios", default="known,new-user,feedback",
                        help="comma-separated scenarios to drive (default known,new-user,feedback)")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    if not (ML100K / "interactions.csv").is_file():
        raise SystemExit(f"MovieLens 100K not found at {ML100K}")
    home = Path(tempfile.mkdtemp(prefix="coldstart-bench-serve-"))
    os.environ["COLDSTART_HOME"] = str(home)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("COLDSTART_API_KEY", None)
    started = time.perf_counter()
    run_id, users, items, attributes = train(args.model)
    print(f"trained {args.model} on ML-100K (cold-user) in {time.perf_counter() - started:.0f} s: run {run_id}, "
          f"{len(users)} known users, {len(items)} items; data folder {home}")
    server, url = start_server(run_id, home / "serve.log")
    random.seed(0)
    try:
        process = psutil.Process(server.pid)
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              "(other processes on this machine take their share)")
        print(f"{'scenario':<10} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'n':>7} "
              f"{'server CPU ms/req':>18} {'client CPU ms/req':>18} {'load avg':>8}")
        every = scenarios(users, items, attributes)
        unknown = sorted(set(chosen) - set(every))
        if unknown:
            raise SystemExit(f"--scenarios: unknown {', '.join(unknown)}; choose from {', '.join(every)}")
        for name in chosen:
            path, body = every[name]
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                asyncio.run(drive(url, path, body, concurrency, min(1.0, args.seconds)))  # warm-up
                cpu_before, client_before = sum(process.cpu_times()[:2]), time.process_time()
                latencies, errors, n = asyncio.run(drive(url, path, body, concurrency, args.seconds))
                cpu_ms = (sum(process.cpu_times()[:2]) - cpu_before) * 1000.0 / max(n, 1)
                client_ms = (time.process_time() - client_before) * 1000.0 / max(n, 1)
                print(f"{name:<10} {concurrency:>7} {n / args.seconds:>8.1f} {statistics.median(latencies):>8.1f} "
                      f"{percentile(latencies, 0.99):>8.1f} {errors:>6} {n:>7} {cpu_ms:>18.2f} {client_ms:>18.2f} "
                      f"{os.getloadavg()[0]:>8.1f}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
