"""How long the Compare page takes to draw onboarding runs the first time, on a fresh server, and what it spends it on.

Seeds (once, into `--home`) ItemKNN and MostPop on an onboarding split of ML-100K (10% new users, five sign-up
strategies, the default question counts), as the job system records runs. Then it times what a user waits for:
a freshly started `streamlit run app.py` opened at `/compare?runs=...` in headless Chromium (the page's imports,
its script and the browser drawing the charts), until the leaderboard shows, the first chart is drawn and the page
is complete (its last element, the report download, is there), then the same link in a second tab (server warm).
Last, in this one process with empty caches, the sections the page computes and the page itself through AppTest:
the first draw, a second draw, a draw with the onboarding and fairness sections opened, and that draw again
(their figures cached per selection). Figures are printed, not asserted: the machine's load moves them.

    .venv/bin/python benchmarks/compare_first_draw.py                 # seeds a data folder under /tmp once
    .venv/bin/python benchmarks/compare_first_draw.py --home /tmp/compare-bench
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STRATEGIES = "random,popularity,entropy,log-pop-entropy,coverage"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "coldstart-compare-first-draw",
                        help="data folder and SQLite database, kept for reruns (default: %(default)s)")
    return parser.parse_args()


def _seed() -> list[int]:
    """The two onboarding runs, recorded once per data folder."""
    from engine.analysis.comparison import list_runs
    from engine.data.canonical import read_canonical_folder
    from engine.runs.protocol_catalog import make_split
    from tests.explore_seed import recorded_runs
    from tests.shared_data import ML100K

    existing = list_runs(statuses=["done"])
    if len(existing) >= 2:
        return sorted(int(r) for r in existing["run_id"])
    dataset = read_canonical_folder(ML100K)
    split = make_split(dataset, "onboarding", 0, {"cold_fraction": 0.1, "strategies": STRATEGIES})
    return recorded_runs(dataset, split, ("itemknn", "mostpop"), "ml-100k")


def _cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) used so far by this process's children: the streamlit server and the browser.
    Unlike wall time, they barely move with the load other programs put on the machine."""
    import psutil

    used = {"server": 0.0, "browser": 0.0}
    for child in psutil.Process().children(recursive=True):
        try:
            side = "server" if "streamlit" in " ".join(child.cmdline()) else "browser"
            times = child.cpu_times()
            used[side] += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return used


def _browser_draws(home: Path, ids: list[int]) -> None:
    """A fresh server's first draw of the comparison in Chromium, then a second tab's draw on the warm server: wall
    time until each step, and the CPU seconds the server and the browser spent on the whole draw."""
    from playwright.sync_api import expect, sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, serve_app

    if not CHROMIUM.exists():
        print(f"Browser draws skipped: no Chromium at {CHROMIUM} (install Debian's chromium package)")
        return
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    with serve_app(env, home / "streamlit.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        for visit in ("fresh server", "second tab"):
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            before = _cpu_seconds()
            start = time.perf_counter()
            page.goto(f"{url}/compare?runs={','.join(map(str, ids))}")
            waits = (("leaderboard shown", page.get_by_test_id("stTable").first),
                     ("first chart drawn", page.locator("[data-testid='stPlotlyChart'] .main-svg").first),
                     ("page complete", page.get_by_role("button", name="Download the whole comparison")))
            for label, element in waits:
                expect(element).to_be_visible(timeout=300_000)
                print(f"{'Browser, ' + visit + ': ' + label:<58} {time.perf_counter() - start:7.2f} s")
            page.wait_for_timeout(1000)  # the last chart's drawing, after its element shows
            used = {side: seconds - before[side] for side, seconds in _cpu_seconds().items()}
            print(f"{'Browser, ' + visit + ': CPU s of server / browser':<58} {used['server']:7.2f} / "
                  f"{used['browser']:.2f}")
            page.context.close()
        browser.close()


def _timed(label: str, call) -> object:
    start = time.perf_counter()
    value = call()
    print(f"{label:<58} {time.perf_counter() - start:7.2f} s")
    return value


def main() -> None:
    args = _arguments()
    args.home.mkdir(parents=True, exist_ok=True)
    os.environ["COLDSTART_HOME"] = str(args.home)
    os.environ.pop("DATABASE_URL", None)
    os.environ["COLDSTART_AUTOSTART_WORKER"] = "0"
    ids = _timed("seed (fit and record; skipped when already there)", _seed)
    _browser_draws(args.home, ids)

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from engine.analysis import comparison
    from engine.onboarding.curves import recorded_curves

    runs = comparison.list_runs(run_ids=ids)
    per_user = _timed("load_per_user", lambda: comparison.load_per_user(runs))
    _timed("onboarding curves (recorded_curves, ndcg@10)", lambda: recorded_curves(per_user, "ndcg@10"))

    def draw(opened: bool = False) -> None:
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        app.query_params["runs"] = ",".join(map(str, ids))
        if opened:
            for key in ("compare-onboarding-open", "compare-fairness-open"):
                app.session_state[key] = True
        app = app.switch_page("pages/compare.py").run()
        if app.exception:
            raise SystemExit(f"the page failed: {app.exception[0].value}")

    st.cache_data.clear()
    st.cache_resource.clear()
    _timed("Compare page, first draw (empty caches)", draw)
    _timed("Compare page, second draw (caches warm)", draw)
    _timed("Compare page, onboarding and fairness opened", lambda: draw(opened=True))
    _timed("Compare page, onboarding and fairness opened again", lambda: draw(opened=True))


if __name__ == "__main__":
    main()
