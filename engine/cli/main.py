"""`python -m engine`: evaluate models, write splits and list models from the command line.

A table of subcommands (`SUBCOMMANDS`): each has a help line, a function that adds its arguments and a function
that runs it and returns the exit code. Adding one (such as `worker`) is one entry. Exit codes: 0 success, 1 a
model failed while fitting or scoring, 2 bad input (unknown model or protocol, unreadable data, split files that do
not match the data, bad parameters), always with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from engine.cli.intake import add_intake_arguments, parse_assignments
from engine.data.errors import DataError
from engine.jobs.supervisor import add_worker_arguments, run_worker
from engine.logs import configure_logging, log_event
from engine.metrics.document import ResultsDocument, TuningRecord
from engine.models.registry import UnknownModelError
from engine.protocols.common import ProtocolError
from engine.runs.runner import RunInputError
from engine.settings import get_settings
from engine.training.device import DeviceUnavailableError



class InputError(ValueError):
    """Bad command-line input, reported on one line with exit code 2."""


INPUT_ERRORS = (InputError, DataError, ProtocolError, UnknownModelError, RunInputError, DeviceUnavailableError)
"""Errors that mean the input is wrong (exit 2); anything else raised while fitting is a model failure (exit 1)."""
log = logging.getLogger("coldstart.cli")


@dataclass(frozen=True)
class Subcommand:
    """One `python -m engine NAME` command."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def one_line(error: BaseException) -> str:
    """An error message flattened to one line (data errors carry what, where and how to fix)."""
    return " ".join(str(error).split())


def parse_value(text: str) -> Any:
    """A parameter value: JSON when it parses (numbers, true/false, lists), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_model_params(items: list[str], models: list[str]) -> dict[str, dict[str, Any]]:
    """`--param MODEL.key=value` options into per-model parameter dicts."""
    params: dict[str, dict[str, Any]] = {name: {} for name in models}
    for key, value in parse_assignments(items, "--param").items():
        model, dot, field = key.partition(".")
        if not dot or not field:
            raise InputError(f"--param {key}={value} must look like MODEL.key=value, e.g. als.factors=64")
        if model not in params:
            raise InputError(f"--param {key}={value} names model {model!r}, which is not in --models "
                             f"({', '.join(models)})")
        params[model][field] = parse_model_value(model, field, value)
    return params


def parse_model_value(model: str, field: str, text: str) -> Any:
    """One `--param` value. A list setting takes a JSON list or values separated by commas, and is checked by the
    model's config here, so a bad one is refused before any data is read, naming the model and field, what was
    given and how to write it; other settings are `parse_value`'s (checked when the model is built)."""
    from engine.jobs.params import ParamError, list_item, parse_field
    from engine.models.registry import get_model_class

    config = get_model_class(model).Config
    info = config.model_fields.get(field)
    if info is None or list_item(info.annotation) is None:
        return parse_value(text)
    value = parse_value(text)
    try:
        return parse_field(config, field, value if isinstance(value, list) else text)
    except ParamError as error:
        example = list(info.get_default(call_default_factory=True) or [])[:2]
        as_json = json.dumps(example, separators=(",", ":"))
        raise InputError(f"--param {model}.{field}={text}: {error.reason}. {model}.{field} is a list: write a JSON "
                         f"list in quotes, e.g. --param '{model}.{field}={as_json}', or the values separated by "
                         f"commas, e.g. --param {model}.{field}={','.join(map(str, example))}") from None


def parse_ks(text: str) -> tuple[int, ...]:
    """`--k 10,20,50` into cut-offs."""
    try:
        ks = tuple(int(k) for k in text.split(",") if k.strip())
    except ValueError:
        raise InputError(f"--k {text!r} must be comma-separated whole numbers such as 10,20,50") from None
    if not ks or min(ks) < 1:
        raise InputError(f"--k {text!r} must list positive cut-offs such as 10,20,50")
    return ks


def load_data(args: argparse.Namespace):
    """The dataset in the --data folder (interactions.csv, optional items.csv and users.csv), read as the options
    say; warnings go to stderr."""
    from engine.cli.intake import load_folder

    return load_folder(args)


def obtain_split(args: argparse.Namespace, dataset):
    """The split to use: made with --protocol, or read from --split-dir and checked against the data."""
    from engine.protocols import check_split_matches, read_split_folder
    from engine.runs.protocol_catalog import make_split

    if getattr(args, "split_dir", None):
        split = read_split_folder(args.split_dir)
        check_split_matches(split, dataset)
        return split
    return make_split(dataset, args.protocol, args.seed, parse_assignments(args.split_param, "--split-param"))


def add_split_arguments(parser: argparse.ArgumentParser, *, allow_split_dir: bool) -> None:
    """--data, --protocol / --split-dir, --seed and --split-param, shared by `evaluate` and `split`."""
    from engine.runs.protocol_catalog import protocol_summaries

    parser.add_argument("--data", required=True, metavar="DIR",
                        help="dataset folder in the canonical layout: interactions.csv (user_id,item_id[,rating]"
                             "[,timestamp][,event]) and optional items.csv, users.csv (more attribute files "
                             "such as items.tags.csv are joined on the id)")
    protocols = "; ".join(f"{name}: {text}" for name, text in protocol_summaries().items())
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--protocol", metavar="NAME", help=f"split protocol. {protocols}")
    if allow_split_dir:
        source.add_argument("--split-dir", metavar="DIR",
                            help="use an existing split folder (train.csv, valid.csv, test.csv [+ split.json]); "
                                 "candidates follow from the files: an item in valid/test but not in train is cold")
    add_intake_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument("--split-param", action="append", default=[], metavar="KEY=VALUE",
                        help="protocol parameter, repeatable, e.g. cold_fraction=0.2 or shots=1,2,3,5,10 "
                             "(see `python -m engine split --help`)")


# -- evaluate ----------------------------------------------------------------------------------------------------
def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `evaluate`: the split, the models and their parameters, cut-offs and outputs."""
    add_split_arguments(parser, allow_split_dir=True)
    parser.add_argument("--models", required=True, metavar="A,B,C",
                        help="comma-separated registry names (see `python -m engine models`)")
    parser.add_argument("--param", action="append", default=[], metavar="MODEL.KEY=VALUE",
                        help="model hyper-parameter, repeatable, e.g. --param als.factors=64 (JSON values; a list "
                             "as JSON or comma-separated: auto.candidates=content,mostpop)")
    parser.add_argument("--k", default="10,20,50", metavar="K,K", help="cut-offs of metrics at K (default 10,20,50)")
    parser.add_argument("--out", metavar="FILE", help="write results.json here (default: print it to stdout)")
    parser.add_argument("--save-recommendations", metavar="DIR",
                        help="write each model's top-K lists per slice to DIR/MODEL/SLICE.csv "
                             "(user_id,item_id,rank,score)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N] (default auto)")
    tuning = parser.add_argument_group("tuning (the same budget for every model, on the validation slice only)")
    tuning.add_argument("--tune", type=int, metavar="N",
                        help="tune each model with N trials over its search space, then score the best once on test "
                             "(--param values are then ignored)")
    tuning.add_argument("--tune-minutes", type=float, metavar="M",
                        help="tune each model for M minutes of wall time (with --tune: whichever ends first)")
    tuning.add_argument("--tune-trial-seconds", type=float, metavar="S",
                        help="stop training one trial after S seconds, keeping its best epoch so far")


def run_evaluate(args: argparse.Namespace) -> int:
    """Fit and evaluate each model on one split; write results.json and record the runs in the database.

    A model that fails (it cannot use this data, or it crashed) is recorded as failed and reported on one line, and
    the others still run: results.json holds every model that finished, and the exit code says one failed (2 for
    bad input, 1 for a failure while fitting or scoring). Settings are checked for every model before any data is
    read."""
    from engine.models.registry import get_model_class
    from engine.runs.results import RunRecorder
    from engine.runs.runner import build_model, fit_and_evaluate, library_versions, split_summary
    from engine.training.device import pick_device

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models:
        raise InputError("--models must name at least one model, e.g. --models random,mostpop")
    for name in models:
        get_model_class(name)
    params = parse_model_params(args.param, models)
    for name in models:
        build_model(name, params[name], seed=0)
    tuning = tuning_budget(args)
    ks = parse_ks(args.k)
    try:
        device = pick_device(args.device)
    except ValueError as error:
        raise InputError(f"--device: {error}") from None
    dataset = load_data(args)
    split = obtain_split(args, dataset)
    recorder = RunRecorder.start(dataset, split, source=str(Path(args.data).resolve()))
    document = ResultsDocument(split=split_summary(split), environment=library_versions())
    failed: dict[str, int] = {}
    for name in models:
        run_id = recorder.begin(name, params[name], split.seed, tuning)
        log_event(log, "run_started", run_id=run_id, model=name, dataset=dataset.name, protocol=split.protocol,
                  seed=split.seed)
        try:
            result = fit_and_evaluate(dataset, split, name, params[name], split.seed, ks=ks, device=device,
                                      save_recommendations=args.save_recommendations, tuning=tuning,
                                      start_from=recorder.best_known_settings(name, split.protocol) if tuning else None)
        except Exception as error:  # recorded, reported on one line; the other models still run
            recorder.fail(run_id, one_line(error))
            log_event(log, "run_failed", logging.WARNING, run_id=run_id, model=name, error=one_line(error))
            print(f"error: model {name} failed: {one_line(error)}", file=sys.stderr)
            failed[name] = 2 if isinstance(error, INPUT_ERRORS) else 1
            continue
        recorder.finish(run_id, result)
        log_event(log, "run_finished", run_id=run_id, model=name, fit_seconds=result.fit_seconds,
                  eval_seconds=result.eval_seconds)
        document.models[name] = result.results
        if result.results.tuning is not None:
            print(f"tuned {name}: {tuning_summary(result.results.tuning)}", file=sys.stderr)
    document.recorded = recorder.summary()
    if document.models:
        if args.out:
            document.write(args.out)
        else:
            print(document.text())
    if failed:
        written = f"results of {', '.join(document.models)} written" if document.models else "no results written"
        print(f"error: {len(failed)} of {len(models)} models failed ({', '.join(failed)}); {written}", file=sys.stderr)
        return max(failed.values())
    return 0


def tuning_budget(args: argparse.Namespace):
    """The TuningBudget that --tune / --tune-minutes / --tune-trial-seconds ask for; None without them."""
    if args.tune is None and args.tune_minutes is None:
        if args.tune_trial_seconds is not None:
            raise InputError("--tune-trial-seconds needs --tune N or --tune-minutes M")
        return None
    from engine.runs.tuning import TuningBudget, TuningError

    try:
        return TuningBudget(args.tune, args.tune_minutes, args.tune_trial_seconds)
    except TuningError as error:
        raise InputError(f"--tune: {error}") from None


def tuning_summary(tuning: TuningRecord) -> str:
    """'16 trials (2 pruned), best ndcg@20 0.1873 with factors=32, ...' for one model."""
    states = [trial.state for trial in tuning.trials]
    dropped = ", ".join(f"{states.count(state)} {state}" for state in ("pruned", "failed") if state in states)
    settings = ", ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                         for key, value in tuning.best_params.items())
    note = getattr(tuning, "note", None)  # an extra key of the record, present when the defaults were kept
    return (f"{len(states)} trials" + (f" ({dropped})" if dropped else "")
            + f", best {tuning.metric} {tuning.best_score:.4f}" + (f" with {settings}" if settings else "")
            + (f"; {note}" if note else ""))


# -- split -------------------------------------------------------------------------------------------------------
def add_split_command_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `split`: the split and the folder to write."""
    add_split_arguments(parser, allow_split_dir=False)
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write train.csv, valid.csv, test.csv (+ *_revealed.csv) and split.json")


def run_split(args: argparse.Namespace) -> int:
    """Write a split folder and print its fingerprint and slice sizes."""
    from engine.protocols import sizes_table, split_sizes, write_split_folder

    split = obtain_split(args, load_data(args))
    write_split_folder(split, args.out)
    print(f"split {split.protocol} seed {split.seed} fingerprint {split.fingerprint} -> {args.out}")
    print(sizes_table(split_sizes(split)).to_string(index=False))
    return 0


# -- models ------------------------------------------------------------------------------------------------------
def add_models_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `models`."""
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def run_models(args: argparse.Namespace) -> int:
    """List registered models with what they can serve and their default hyper-parameters."""
    from engine.jobs.params import capability_summary
    from engine.models.registry import get_model_class, model_names

    entries = []
    for name in model_names():
        cls = get_model_class(name)
        entries.append({"name": name, "label": cls.label, "family": cls.family,
                        "capabilities": asdict(cls.capabilities),
                        "params": cls.Config().model_dump(mode="json")})
    if args.json:
        print(json.dumps(entries, indent=1))
        return 0
    for entry in entries:
        print(f"{entry['name']:<16} {entry['label']:<24} {entry['family']:<14} {capability_summary(entry['name'])}")
    return 0


# -- serve -------------------------------------------------------------------------------------------------------
def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `serve`: the run, and where to listen (loopback unless told otherwise)."""
    parser.add_argument("--run", type=int, required=True, metavar="RUN_ID",
                        help="id of a finished run with a saved model (runs trained from the app keep one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; set COLDSTART_API_KEY "
                             "before opening it wider)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--app-pid", type=int, default=None, metavar="PID",
                        help="the app that starts this server passes its process id: the server stops when that "
                             "process exits (default: serve until stopped)")


def run_serve(args: argparse.Namespace) -> int:
    """Load the run once and serve it with uvicorn until interrupted; OpenAPI docs at /docs."""
    from engine.analysis.explore import ExploreError
    from engine.serving.process import ServeError, serve_forever

    if args.host not in ("127.0.0.1", "localhost", "::1") and not get_settings().api_key:
        print(f"warning: serving on {args.host} without COLDSTART_API_KEY: anyone who can reach it can use it",
              file=sys.stderr)
    print(f"loading run {args.run}; then serving on http://{args.host}:{args.port} (API docs at /docs)",
          file=sys.stderr, flush=True)
    try:
        serve_forever(args.run, args.host, args.port, args.app_pid)
    except (ExploreError, ServeError) as error:
        raise InputError(f"--run {args.run}: {error}") from None
    return 0


# -- the feedback loop and privacy ----------------------------------------------------------------------------------
def add_retrain_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `retrain-with-feedback`."""
    parser.add_argument("--run", type=int, required=True, metavar="RUN_ID",
                        help="a served run: its dataset gets a new version with the feedback its served runs "
                             "gathered, and its experiment's models are queued on it")


def run_retrain(args: argparse.Namespace) -> int:
    """Make the new dataset version, queue the runs, print what was made and the runs to compare."""
    from engine.serving.feedback_loop import FeedbackLoopError, retrain_with_feedback

    try:
        made = retrain_with_feedback(args.run)
    except FeedbackLoopError as error:
        raise InputError(str(error)) from None
    print(made.describe())
    print(f"the worker trains the queued runs (python -m engine worker, or the app's own); compare them on the "
          f"Compare page: ?runs={','.join(map(str, made.compare_run_ids))}")
    return 0


def add_forget_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `forget-user`."""
    parser.add_argument("--dataset", type=int, required=True, metavar="DATASET_ID",
                        help="the dataset the user is in (versions made from it are included)")
    parser.add_argument("--user", required=True, metavar="USER_ID", help="the user's id, exactly as in the data")


def run_forget(args: argparse.Namespace) -> int:
    """Forget one user everywhere their data lives; print what was removed and the runs trained on them."""
    from engine.privacy.forget import forget_user

    print(forget_user(args.dataset, args.user).describe())
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "evaluate": Subcommand("fit and evaluate models on a split; write results.json", add_evaluate_arguments,
                           run_evaluate),
    "split": Subcommand("write a split folder made with a protocol", add_split_command_arguments, run_split),
    "models": Subcommand("list the registered models and what they can serve", add_models_arguments, run_models),
    "worker": Subcommand("run the training supervisor: claim queued runs and run each in its own process",
                         add_worker_arguments, run_worker),
    "serve": Subcommand("serve a finished run's model as an HTTP API (recommendations, new users and items, "
                        "feedback)", add_serve_arguments, run_serve),
    "retrain-with-feedback": Subcommand("make a new dataset version with a served run's feedback and queue the "
                                        "same models on it", add_retrain_arguments, run_retrain),
    "forget-user": Subcommand("erase a user from a dataset, its versions, splits and feedback; mark runs trained "
                              "on them", add_forget_arguments, run_forget),
}


class OneLineParser(argparse.ArgumentParser):
    """argparse with usage errors on one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print the usage error on one line and exit with code 2."""
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per entry of `SUBCOMMANDS`."""
    parser = OneLineParser(prog="python -m engine", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)
    for name, command in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(handler=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the subcommand, and turn bad input into exit code 2 with a one-line reason."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2), already printed
        return int(stop.code or 0)
    configure_logging()
    try:
        return args.handler(args)
    except INPUT_ERRORS as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
