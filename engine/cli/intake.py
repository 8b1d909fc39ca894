"""Command-line options that say how a dataset folder is read: the same choices the Data page offers.

Column roles (`--column rating=plays`, `--column timestamp=none`), the id column and attribute kinds of the
attribute tables, feedback (`--feedback implicit --count-weight log --positive-threshold 2`), event weights and the
duplicates policy. Warnings met while reading are printed on stderr, one line each, so nothing is accepted silently.
"""

from __future__ import annotations

import argparse
import sys

from engine.data.canonical import FolderMapping, read_canonical_result
from engine.data.columns import ROLES
from engine.data.dataset import ATTRIBUTE_KINDS, COUNT_WEIGHTS, Dataset, Feedback
from engine.data.errors import DataError
from engine.data.validate import DUPLICATE_POLICIES, IntakeOptions

_UNMAPPED = ("none", "")


def add_intake_arguments(parser: argparse.ArgumentParser) -> None:
    """--column, --items-id, --users-id, --item-kind, --user-kind, --feedback, --positive-threshold,
    --count-weight, --event-weight and --duplicates."""
    group = parser.add_argument_group("reading the data folder (defaults: canonical columns, guessed feedback)")
    group.add_argument("--column", action="append", default=[], metavar="ROLE=COLUMN",
                       help=f"column of interactions.csv that plays ROLE ({', '.join(ROLES)}), repeatable; "
                            "COLUMN 'none' leaves the role unmapped, e.g. --column rating=plays --column timestamp=none")
    for side in ("item", "user"):
        group.add_argument(f"--{side}s-id", metavar="COLUMN",
                           help=f"id column of {side}s.csv (default {side}_id)")
        group.add_argument(f"--{side}-kind", action="append", default=[], metavar="COLUMN=KIND",
                           help=f"kind of a {side} attribute, repeatable: {', '.join(ATTRIBUTE_KINDS)} "
                                "(others are guessed)")
    group.add_argument("--feedback", choices=("explicit", "implicit"),
                       help="explicit: ratings, positive from --positive-threshold; implicit: every row signals "
                            "interest, a rating column holding counts (plays, views) that weigh it. Default: guessed "
                            "(counts are implicit, other ratings explicit)")
    group.add_argument("--positive-threshold", type=float, metavar="X",
                       help="explicit: the smallest positive rating (default 80%% of the top rating); implicit with "
                            "counts: the smallest count that signals interest")
    group.add_argument("--count-weight", choices=(*COUNT_WEIGHTS, "none"),
                       help="implicit with counts: weigh a row by log(1 + count), by its count capped at the 95th "
                            "percentile, or not at all (default log when the column holds counts)")
    group.add_argument("--event-weight", action="append", default=[], metavar="EVENT=WEIGHT",
                       help="weight of an event type under implicit feedback, repeatable (unnamed types count 0; "
                            "default: every type weighs 1)")
    group.add_argument("--duplicates", choices=DUPLICATE_POLICIES, default="last",
                       help="several rows for one (user, item): keep the latest, sum the ratings, keep the "
                            "strongest, or count the rows (a log of listens or clicks without a rating column: "
                            "implicit, each pair weighted by log(1 + rows)) (default last)")


def parse_assignments(items: list[str], option: str) -> dict[str, str]:
    """`key=value` pairs of a repeatable option into a dict (every `--x k=v` option of the command line)."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DataError(f"{option} {item!r} must look like key=value")
        pairs[key.strip()] = value.strip()
    return pairs


def folder_mapping(args: argparse.Namespace) -> FolderMapping:
    """The column mapping the options ask for; unknown roles and kinds are bad input."""
    columns: dict[str, str | None] = {}
    for role, column in parse_assignments(args.column, "--column").items():
        if role not in ROLES:
            raise DataError(f"--column names the role '{role}'", "--column", f"Use one of: {', '.join(ROLES)}")
        columns[role] = None if column.lower() in _UNMAPPED else column
    kinds = {}
    for side in ("item", "user"):
        chosen = parse_assignments(getattr(args, f"{side}_kind"), f"--{side}-kind")
        unknown = sorted(set(chosen.values()) - set(ATTRIBUTE_KINDS))
        if unknown:
            raise DataError(f"--{side}-kind names the kind '{unknown[0]}'", f"--{side}-kind",
                            f"Use one of: {', '.join(ATTRIBUTE_KINDS)}")
        kinds[side] = chosen
    ids = {side: getattr(args, f"{side}s_id") for side in ("item", "user") if getattr(args, f"{side}s_id")}
    return FolderMapping(columns, ids, kinds)


def intake_options(args: argparse.Namespace) -> IntakeOptions:
    """Feedback and duplicates as the options ask; None feedback leaves the guess to intake."""
    weights = {}
    for event, weight in parse_assignments(args.event_weight, "--event-weight").items():
        try:
            weights[event] = float(weight)
        except ValueError:
            raise DataError(f"--event-weight {event}={weight} is not a number", "--event-weight",
                            "Give a number such as --event-weight purchase=3") from None
    implicit_only = [name for name, value in (("--count-weight", args.count_weight), ("--event-weight", weights))
                     if value]
    if args.feedback == "explicit" and implicit_only:
        raise DataError(f"{implicit_only[0]} applies to implicit feedback only", "--feedback explicit",
                        f"Drop {implicit_only[0]}, or use --feedback implicit")
    if args.feedback is None and (implicit_only or args.positive_threshold is not None):
        raise DataError("--positive-threshold, --count-weight and --event-weight need --feedback", "options",
                        "Say --feedback explicit or --feedback implicit")
    if args.feedback is None:
        return IntakeOptions(duplicates=args.duplicates)
    if args.feedback == "explicit":
        return IntakeOptions(Feedback("explicit", args.positive_threshold), args.duplicates)
    count_weight = None if args.count_weight in (None, "none") else args.count_weight
    return IntakeOptions(Feedback("implicit", args.positive_threshold, weights, count_weight), args.duplicates,
                         guess_count_weight=args.count_weight is None)


def load_folder(args: argparse.Namespace) -> Dataset:
    """The dataset in `args.data`, read as the options say; its warnings and feedback go to stderr."""
    result = read_canonical_result(args.data, intake_options(args), folder_mapping(args))
    for warning in result.warnings:
        print(f"warning: {' '.join(str(warning).split())}", file=sys.stderr)
    frame = result.dataset.interactions
    print(f"data: {frame['user_id'].nunique():,} users, {frame['item_id'].nunique():,} items, {len(frame):,} "
          f"interactions; {result.dataset.feedback.describe()}", file=sys.stderr)
    return result.dataset
