"""Do a tag's counts help? The attribute models on bookmarks whose tags count their taggers, with the counts kept
and with the same tags as a plain list, new items, validation NDCG@20 only (never test), paired per seed.

Data: the `tag-counts` generator kind (a topic's tags are given more often than stray ones) and the HetRec
Delicious-shaped files of `benchmarks/public_shapes.py` read through intake (bookmark_tags.dat's tagWeight).

    .venv/bin/python benchmarks/weighted_tags.py                        # seeds 11,12,13
    .venv/bin/python benchmarks/weighted_tags.py --seeds 11 --models content
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import public_shapes  # noqa: E402
from benchmarks.protocol_cases import protocol_cases  # noqa: E402
from engine.data.cell_values import multi_value_rows  # noqa: E402
from engine.data.columns import detect_roles  # noqa: E402
from engine.data.dataset import MULTI_VALUE_SEPARATOR, Dataset  # noqa: E402
from engine.data.read import read_path  # noqa: E402
from engine.data.synthetic_kinds import generate_kind  # noqa: E402
from engine.data.validate import AttributeInput, build_dataset  # noqa: E402
from engine.models.registry import create_model  # noqa: E402

METRIC = "ndcg@20"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="11,12,13", help="split seeds, comma-separated")
    parser.add_argument("--models", default="content,attrridge,mapper", help="models, comma-separated")
    return parser.parse_args()


def _bookmarks() -> Dataset:
    """The HetRec-shaped bookmarks as a user uploads them: tag assignments as interactions, bookmark_tags.dat as
    item attributes (gathered per bookmark, each tag weighed by its tagWeight)."""
    with tempfile.TemporaryDirectory() as folder:
        triples, _, tags = public_shapes.bookmarks(Path(folder), rows=20_000)
        raw, table = read_path(triples), read_path(tags)
        return build_dataset(raw.frame, detect_roles(raw.frame), name="hetrec-shaped bookmarks",
                             items=AttributeInput(table.frame, "bookmarkID")).dataset


def without_weights(dataset: Dataset) -> Dataset:
    """The same data with every multi-valued item attribute as a plain list: the tags, their counts dropped."""
    items = dataset.items.copy()
    for name, kind in dataset.item_kinds.items():
        if kind == "multi":
            rows = multi_value_rows(items[name])
            joined = rows.groupby("row")["value"].agg(MULTI_VALUE_SEPARATOR.join)
            items[name] = pd.Series(joined.reindex(range(len(items))).to_numpy(), index=items.index, dtype="str")
    return dataclasses.replace(dataset, items=items, name=f"{dataset.name}, plain")


def scores(dataset: Dataset, models: list[str], seeds: list[int]) -> dict[str, list[float]]:
    """Per model, the validation NDCG@20 of each seed."""
    out: dict[str, list[float]] = {m: [] for m in models}
    for case in protocol_cases(dataset, "cold-item", seeds, METRIC):
        for model in models:
            out[model].append(case.validator(create_model(model, {}, seed=case.seed).fit(case.train)))
    return out


def main() -> None:
    args = _arguments()
    seeds, models = [int(s) for s in args.seeds.split(",")], args.models.split(",")
    print(f"new items, validation {METRIC}, seeds {seeds}: counted tags / plain tags (difference)")
    for name, dataset in (("tag-counts kind", generate_kind("tag-counts", 2_000, 5_000, 40_000, seed=0)),
                          ("HetRec-shaped bookmarks", _bookmarks())):
        counted, plain = scores(dataset, models, seeds), scores(without_weights(dataset), models, seeds)
        for model in models:
            diffs = [c - p for c, p in zip(counted[model], plain[model])]
            per_seed = ", ".join(f"{d:+.4f}" for d in diffs)
            print(f"  {name:24s} {model:10s} {sum(counted[model]) / len(seeds):.4f} / "
                  f"{sum(plain[model]) / len(seeds):.4f} ({sum(diffs) / len(diffs):+.4f}; per seed {per_seed})",
                  flush=True)


if __name__ == "__main__":
    main()
