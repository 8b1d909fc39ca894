"""The benchmark tables' record of tuned parameters: `benchmarks/tuned/<dataset key>.json`, per protocol, model
and split seed. Benchmarks only: the product records every trial in the database (see `engine.runs.tuning` and the
Compare page); these files let a long table be re-run from its recorded choices (`--record`, then without it).

    {"dataset": "ml-100k", "metric": "ndcg@20",
     "protocols": {"warm": {"als": {"1": {"params": {...}, "valid": 0.251, "budget": 16, "trials": 16}}}}}
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from engine.runs.tuning import TuningResult

TUNED_DIR = Path(__file__).resolve().parent / "tuned"
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _tuned_file(dataset_key: str, directory: Path | None) -> Path:
    if not _SAFE_KEY.match(dataset_key):
        raise ValueError(f"dataset key {dataset_key!r} must be 1-100 letters, digits, dots, dashes or underscores "
                         "(it names the tuned-parameters file)")
    return (directory or TUNED_DIR) / f"{dataset_key}.json"


def record_tuning(result: TuningResult, dataset_key: str, protocol: str, split_seed: int,
                  directory: Path | None = None) -> Path:
    """Store the best parameters of `result` for (dataset, protocol, model, split seed); returns the file."""
    path = _tuned_file(dataset_key, directory)
    document = json.loads(path.read_text()) if path.exists() else {"dataset": dataset_key, "protocols": {}}
    document["metric"] = result.metric
    entry = {"params": result.best_params, "valid": round(result.best_score, 6),
             "budget": result.budget.trials, "trials": len(result.trials)}
    document["protocols"].setdefault(protocol, {}).setdefault(result.model, {})[str(split_seed)] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    return path


def tuned_params(dataset_key: str, protocol: str, model: str, split_seed: int | None = None,
                 directory: Path | None = None) -> dict[str, Any]:
    """Recorded tuned parameters ({} = model defaults when nothing was recorded).

    With a recorded `split_seed`, that seed's tuning; otherwise the configuration chosen for the most seeds
    (lowest seed on a tie), a sensible default for a new split of the same dataset and protocol.
    """
    path = _tuned_file(dataset_key, directory)
    if not path.exists():
        return {}
    by_seed = json.loads(path.read_text()).get("protocols", {}).get(protocol, {}).get(model, {})
    if not by_seed:
        return {}
    if split_seed is not None and str(split_seed) in by_seed:
        return dict(by_seed[str(split_seed)]["params"])
    ordered = sorted(by_seed.items(), key=lambda kv: int(kv[0]) if kv[0].lstrip("-").isdigit() else kv[0])
    votes = Counter(json.dumps(entry["params"], sort_keys=True) for _, entry in ordered)
    winner = max(votes.values())
    return next(dict(entry["params"]) for _, entry in ordered
                if votes[json.dumps(entry["params"], sort_keys=True)] == winner)
