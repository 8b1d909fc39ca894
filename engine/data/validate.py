"""Turn raw tables plus the user's column mapping and options into a validated `Dataset`.

Every problem that makes data unusable raises a `DataError` naming the rows or values involved and the fix; problems
that can be resolved safely (duplicate rows, attribute rows without interactions) become `DataWarning`s that the
page shows next to the result. Checks are vectorised so a million interactions validate in about a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.data.cell_values import as_multi_values, to_amounts
from engine.data.columns import (RoleMapping, ids_as_strings, infer_attribute_kinds, is_blank, looks_like_counts,
                                 measures_each_row, names_another_entitys_id, names_the_other_side, says_when,
                                 to_numbers, to_unix_seconds)
from engine.data.dataset import ATTRIBUTE_KINDS, AttributeKind, Dataset, Feedback
from engine.data.errors import DataError, DataWarning, row_examples, value_examples
from engine.data.features import parse_dates
from engine.data.long_format import gather_by_id, is_long_format

DuplicatePolicy = Literal["last", "sum", "max", "count"]
DUPLICATE_POLICIES: tuple[DuplicatePolicy, ...] = ("last", "sum", "max", "count")
OPTIONAL_ROLES = ("rating", "timestamp", "event")
MAX_ID_LENGTH = 256
"""Longest accepted user or item id: ids are keys, stored and shown everywhere; long text belongs in attributes."""
LONG_VALUE = {"text": 100_000, "multi": 100_000}
"""Attribute values longer than this (characters; 1,000 for kinds not listed) are kept but warned about; a long
table gathers hundreds of tags for one id."""
_LONG_VALUE_DEFAULT = 1_000
_COUNT_CAP_QUANTILE = 0.95
_UNRATED_ZERO_SHARE = 0.2  # a share of ratings at 0, below a scale starting at 1, that reads as 'not rated'
_ID_LIST_SAMPLE = 2000  # rows looked at for cells that hold lists of ids
_ID_LIST_SEPARATORS = r"[\s,;|]+"


@dataclass(frozen=True)
class IntakeOptions:
    """How raw feedback becomes positives, and what to do with several rows for one (user, item) pair.

    duplicates: `last` keeps the latest row (by timestamp, then file order); `max` keeps the highest rating (or the
    event with the largest weight); `sum` adds ratings up (without ratings it keeps the strongest event, as `max`);
    `count`, for a log of single events without a rating column (Last.fm 1K's listens, clicks), keeps the latest row
    with its pair's number of rows as a count, read as implicit feedback weighted by log(1 + count).
    """

    feedback: Feedback | None = None  # None: guessed from the rating column, see `default_feedback`
    duplicates: DuplicatePolicy = "last"
    guess_count_weight: bool = False  # implicit feedback without a count weight: log when the column holds counts


@dataclass
class AttributeInput:
    """An item or user attribute table as read, with its id column and optional kind overrides."""

    frame: pd.DataFrame
    id_column: str
    kinds: dict[str, AttributeKind] = field(default_factory=dict)  # overrides; other columns are inferred
    label: str = "attribute table"
    first_row: int = 2  # file row number of the frame's first row (2 = after a header line)


@dataclass
class IntakeResult:
    """A validated dataset plus what was fixed on the way in."""

    dataset: Dataset
    warnings: list[DataWarning]


def default_feedback(ratings: pd.Series | None) -> Feedback:
    """The guess when the user chose none: implicit feedback weighted by log(1 + count) when the rating column
    holds counts (see `looks_like_counts`); explicit feedback with positives at 80% of the top rating (4 on a 1..5
    scale) when it holds ratings; plain implicit feedback without one."""
    if ratings is None:
        return Feedback(kind="implicit")
    values = to_numbers(ratings).dropna()
    if values.empty or values.max() <= 0:
        return Feedback(kind="implicit")
    if looks_like_counts(values):
        return Feedback(kind="implicit", count_weight="log")
    return Feedback(kind="explicit", positive_threshold=_top_rating_threshold(values))


def smallest_count(counts: pd.Series) -> float:
    """The smallest positive count or amount of a column (1 for plays, 0.1 for hours played; 1 when there is none):
    the default smallest count that signals interest, so that no row with a positive count is dropped."""
    values = to_numbers(counts)
    positive = values[values > 0]
    return float(positive.min()) if not positive.empty else 1.0


def _top_rating_threshold(ratings: pd.Series) -> float:
    return round(0.8 * float(to_numbers(ratings).max()), 6)


def counts_note(ratings: pd.Series, column: str) -> str:
    """Why a column was taken for counts, in numbers a person can check against their data."""
    values = to_numbers(ratings).dropna()
    if (values == np.floor(values)).all():
        return (f"Column '{column}' holds counts (whole numbers from {values.min():,.0f} to {values.max():,.0f}, "
                f"median {values.median():,.0f}), not a rating scale")
    return (f"Column '{column}' holds amounts such as hours or quantities (from {values.min():,.4g} to "
            f"{values.max():,.6g}, median {values.median():,.4g}), not a rating scale")


def _rows(mask: pd.Series | np.ndarray, first_row: int) -> np.ndarray:
    return np.flatnonzero(np.asarray(mask)) + first_row


def _delimiter_advice(cell: str) -> str:
    """How to fix a table read as one column, naming the separator it seems to use: '::' (MovieLens 1M and 10M's
    .dat files, the layout a ratings export is most often found in) and spaces are not read."""
    if "::" in cell:
        return ("Its columns look separated by '::' (the MovieLens .dat layout), which is not read: replace every "
                "'::' by a comma, e.g. sed 's/::/,/g' ratings.dat > ratings.csv")
    if len(cell.split()) > 1:
        return ("Its columns look separated by spaces, which are not read: put commas or tabs between columns, "
                "e.g. tr -s ' ' ',' < ratings.txt > ratings.csv")
    return "Save it with commas, tabs or semicolons between columns (for example as a standard CSV)"


def _check_roles(frame: pd.DataFrame, roles: RoleMapping, label: str) -> None:
    columns = [str(c) for c in frame.columns]
    if len(columns) <= 1:
        shown = columns[0] if columns else ""
        raise DataError(
            f"The {label} has a single column '{shown[:80]}', so its delimiter was not recognised",
            f"{label}",
            _delimiter_advice(shown),
        )
    for role in ("user", "item"):
        if getattr(roles, role) is None:
            raise DataError(f"No column is mapped to the {role} id", f"{label}, columns: {', '.join(columns)}",
                            f"Choose the column that holds {role} ids, or add one named {role}_id")
    mapped = {role: column for role, column in roles.as_dict().items() if column is not None}
    for role, column in mapped.items():
        if column not in columns:
            raise DataError(f"The {role} column '{column}' is not in the file",
                            f"{label}, columns: {', '.join(columns)}", "Pick one of the listed columns")
    used = list(mapped.values())
    repeated = sorted({c for c in used if used.count(c) > 1})
    if repeated:
        raise DataError(f"Column '{repeated[0]}' is mapped to more than one role", label,
                        "Map each role to a different column")


def _check_id_lengths(ids: pd.Series, role: str, column: str, label: str, first_row: int) -> None:
    too_long = (ids.str.len() > MAX_ID_LENGTH).fillna(False).to_numpy(bool)
    if too_long.any():
        raise DataError(f"{int(too_long.sum()):,} {role} ids in column '{column}' are longer than {MAX_ID_LENGTH} "
                        f"characters: {value_examples(ids, too_long, first_row)}", label,
                        f"Use short {role} ids such as a code or a number, and put long text in an attribute table; "
                        "or check that this is the id column")


def _check_id_lists(ids: pd.Series, role: str, column: str, label: str, first_row: int) -> None:
    """Refuse a column whose cells hold several ids (MIND's impressions 'N123-1 N456-0', a history 'N1 N2 N3'):
    read as one id each, every list would become an entity of its own. Names with spaces ('Sigur Ros', 'Fallout
    4') pass: a cell counts as a list only when each of its two or more tokens holds a digit."""
    if _id_lists(ids.head(_ID_LIST_SAMPLE)).mean() <= 0.5:
        return
    listed = _id_lists(ids)
    raise DataError(f"Column '{column}' holds several {role} ids in one cell: "
                    f"{value_examples(ids, listed.to_numpy(bool), first_row)}", label,
                    f"Give one {role} per row: split the lists into rows (in pandas: frame['{column}'] = "
                    f"frame['{column}'].str.split(); frame = frame.explode('{column}')), or map the column that "
                    f"holds single {role} ids")


def _id_lists(ids: pd.Series) -> pd.Series:
    tokens = ids.str.split(_ID_LIST_SEPARATORS)
    return (tokens.str.len() >= 2) & tokens.map(lambda parts: all(any(c.isdigit() for c in p) for p in parts))


def _clean_ids(values: pd.Series, role: str, column: str, label: str, first_row: int) -> pd.Series:
    ids = ids_as_strings(values)
    missing = ids.isna()
    if missing.any():
        raise DataError(f"{int(missing.sum())} rows have an empty {role} id in column '{column}'",
                        f"{label}, {row_examples(_rows(missing, first_row))}",
                        f"Fill in the {role} ids or delete those rows")
    _check_id_lengths(ids, role, column, label, first_row)
    _check_id_lists(ids, role, column, label, first_row)
    return ids


def _clean_ratings(values: pd.Series, column: str, label: str, first_row: int) -> pd.Series:
    numbers = to_numbers(values)
    if numbers.notna().all() and np.isfinite(numbers).all():  # the common case, without the slower checks below
        return numbers.rename("rating")
    present = ~is_blank(values)
    wrong = present & (numbers.isna() | ~np.isfinite(numbers.fillna(0.0)))
    if wrong.any():
        raise DataError(f"Column '{column}' has {int(wrong.sum()):,} ratings that are not numbers: "
                        f"{value_examples(values, wrong, first_row)}", label,
                        "Make every rating a number such as 4 or 3.5 (a dot before decimals), or map another column "
                        "as the rating")
    if (~present).any():
        raise DataError(f"{int((~present).sum())} rows have no rating in column '{column}'",
                        f"{label}, {row_examples(_rows(~present, first_row))}",
                        "Fill in or delete those rows, or do not map a rating column and use implicit feedback")
    return numbers.rename("rating")


def _clean_events(values: pd.Series, column: str, label: str, first_row: int) -> pd.Series:
    events = values.astype("string").str.strip()
    missing = events.isna() | (events == "")
    if missing.any():
        raise DataError(f"{int(missing.sum())} rows have no event type in column '{column}'",
                        f"{label}, {row_examples(_rows(missing, first_row))}",
                        "Fill in the event type (such as view or purchase) or delete those rows")
    return events.astype("str").rename("event")


def _without_empty_columns(frame: pd.DataFrame, roles: RoleMapping, label: str
                           ) -> tuple[RoleMapping, list[DataWarning]]:
    """An optional column that is empty in every row is absent (a canonical file may carry it as a placeholder)."""
    warnings: list[DataWarning] = []
    for role in OPTIONAL_ROLES:
        column = getattr(roles, role)
        if column is not None and is_blank(frame[column]).all():
            roles = replace(roles, **{role: None})
            warnings.append(DataWarning(f"Column '{column}' is empty in every row, so the data is read without a "
                                        f"{role} column", label, ""))
    return roles, warnings


def _resolve_counts(frame: pd.DataFrame, feedback: Feedback, label: str) -> Feedback:
    """Implicit feedback with a count column: counts must be >= 0, and a capped weight gets its cap."""
    counts = frame["rating"]
    if feedback.count_weight is not None and (counts < 0).any():
        raise DataError(f"Column 'rating' has {int((counts < 0).sum()):,} negative counts, "
                        f"e.g. {counts[counts < 0].iloc[0]:g}", label,
                        "Counts start at 0; choose explicit feedback if these are ratings")
    if feedback.count_weight == "capped" and feedback.count_cap is None:
        positive = counts[counts > 0]
        cap = float(np.ceil(positive.quantile(_COUNT_CAP_QUANTILE))) if not positive.empty else 1.0
        feedback = replace(feedback, count_cap=cap)
    return feedback


def _resolve_feedback(frame: pd.DataFrame, options: IntakeOptions, label: str, rating_column: str | None
                      ) -> tuple[Feedback, list[DataWarning]]:
    warnings: list[DataWarning] = []
    feedback = options.feedback
    if (options.guess_count_weight and feedback is not None and feedback.kind == "implicit"
            and feedback.count_weight is None and "rating" in frame.columns and looks_like_counts(frame["rating"])):
        feedback = replace(feedback, count_weight="log")
    if feedback is None:
        feedback = default_feedback(frame["rating"] if "rating" in frame.columns else None)
        if feedback.count_weight is not None:
            warnings.append(DataWarning(
                f"{counts_note(frame['rating'], rating_column or 'rating')}, so it is read as {feedback.describe()}",
                label, "Choose explicit feedback (on the command line: --feedback explicit) if they are ratings"))
    if feedback.kind == "explicit":
        if "rating" not in frame.columns:
            raise DataError("Explicit feedback needs ratings, but no rating column is mapped (or it is empty in "
                            "every row)", label, "Map the rating column, or choose implicit feedback")
        if feedback.positive_threshold is None:
            feedback = replace(feedback, positive_threshold=_top_rating_threshold(frame["rating"]))
        warnings += _unrated_zeros(frame["rating"], rating_column or "rating", label)
        if not (frame["rating"] >= feedback.positive_threshold).any():
            raise DataError(f"No rating reaches the positive threshold {feedback.positive_threshold:g}",
                            f"{label}, ratings range {frame['rating'].min():g} to {frame['rating'].max():g}",
                            "Lower the threshold so that good ratings count as positives")
    elif "event" in frame.columns:
        seen = sorted(frame["event"].unique().tolist())
        weights = dict(feedback.event_weights) or {event: 1.0 for event in seen}
        unweighted = [event for event in seen if event not in weights]
        if unweighted:
            warnings.append(DataWarning(
                f"Event types without a weight count as 0 and are dropped: {', '.join(unweighted[:10])}", label,
                "Give them a weight if they signal interest"))
        if not any(weights.get(event, 0.0) > 0 for event in seen):
            raise DataError("No event type has a positive weight, so there are no positives", label,
                            "Give at least one event type (such as purchase) a weight above 0")
        feedback = replace(feedback, event_weights=weights)
    if feedback.kind == "implicit" and "rating" in frame.columns:
        feedback = _resolve_counts(frame, feedback, label)
    return feedback, warnings


def _unrated_zeros(ratings: pd.Series, column: str, label: str) -> list[DataWarning]:
    """A warning when many ratings are 0 on a scale that otherwise starts at 1 (Book-Crossing's 0 means 'read, not
    rated'): explicit feedback takes them for the worst rating, in RMSE and MAE too."""
    zeros = int((ratings == 0).sum())
    rated = ratings[ratings != 0]
    if zeros < _UNRATED_ZERO_SHARE * len(ratings) or rated.empty or rated.min() < 1:
        return []
    return [DataWarning(
        f"{zeros:,} of the {len(ratings):,} ratings in column '{column}' ({zeros / len(ratings):.0%}) are 0 on a "
        f"scale of {rated.min():g} to {rated.max():g}; in data such as Book-Crossing a 0 means 'interacted, not "
        "rated'. Read as explicit ratings, they are not positives and count as ratings of 0 in RMSE and MAE", label,
        "Choose implicit feedback to count every row as interest, or delete the rows rated 0 to keep rated rows only")]


def _event_strength(frame: pd.DataFrame, feedback: Feedback) -> pd.Series:
    if "rating" in frame.columns:
        return frame["rating"]
    if "event" in frame.columns:
        return frame["event"].map(feedback.event_weights).astype("float64").fillna(0.0)
    return pd.Series(0.0, index=frame.index)


@dataclass(frozen=True)
class _IdCodes:
    """Each row's user and item as a position among the distinct ids: the one hash pass over the id strings that
    duplicate detection, entity counts and attribute matching all share (each used to hash the strings again)."""

    users: np.ndarray
    user_values: pd.Index
    items: np.ndarray
    item_values: pd.Index

    @classmethod
    def of(cls, frame: pd.DataFrame) -> "_IdCodes":
        users, user_values = pd.factorize(frame["user_id"])
        items, item_values = pd.factorize(frame["item_id"])
        return cls(users, pd.Index(user_values), items, pd.Index(item_values))

    def repeated_pairs(self) -> np.ndarray | None:
        """Rows whose (user, item) pair occurs more than once, or None when every pair is distinct (the usual case).

        The pairs become one integer each; sorting those integers finds whether any repeats several times faster
        than a hash table at tens of millions of rows (whose lookups miss the cache), and only data that has
        repeats pays for the row mask."""
        pairs = self.users.astype(np.int64) * max(len(self.item_values), 1) + self.items
        ordered = np.sort(pairs)
        if not (ordered[1:] == ordered[:-1]).any():
            return None
        return pd.Series(pairs).duplicated(keep=False).to_numpy()


def _resolve_duplicates(frame: pd.DataFrame, codes: _IdCodes, policy: DuplicatePolicy, feedback: Feedback,
                        label: str, first_row: int) -> tuple[pd.DataFrame, list[DataWarning]]:
    keys = ["user_id", "item_id"]
    mask = codes.repeated_pairs()
    if mask is None:
        return frame, []
    repeated = pd.Series(mask, index=frame.index)
    first = frame.loc[repeated].iloc[0]
    same = repeated & (frame["user_id"] == first["user_id"]) & (frame["item_id"] == first["item_id"])
    # Only the repeated rows are sorted (the kept one of each pair last: by time, then file order, for `last`; by
    # strength for `max`), so the cost grows with the rows and not with their sort.
    order = frame.loc[repeated].assign(_file_order=np.flatnonzero(repeated.to_numpy()))
    n_extra = int(len(order) - order[keys].drop_duplicates().shape[0])
    sort_by = (["timestamp"] if "timestamp" in frame.columns else []) + ["_file_order"]
    if policy in ("max", "sum"):
        order = order.assign(_strength=_event_strength(order, feedback))
        sort_by = ["_strength"] + sort_by
    order = order.sort_values(sort_by, kind="stable")
    chosen = order.drop_duplicates(keys, keep="last")
    note = {"last": "kept the latest row", "max": "kept the strongest row", "sum": "kept the strongest row",
            "count": "counted: each (user, item) keeps its latest row with its number of rows as its count"}[policy]
    keep = ~repeated.to_numpy()
    keep[chosen["_file_order"].to_numpy()] = True
    if policy == "sum" and "rating" in frame.columns:
        totals = order.groupby(keys, sort=False, observed=True)["rating"].sum().rename("_total")
        chosen = chosen.join(totals, on=keys)
        ratings = frame["rating"].to_numpy(dtype="float64", copy=True)
        ratings[chosen["_file_order"].to_numpy()] = chosen["_total"].to_numpy()
        frame = frame.assign(rating=ratings)
        note = "added their ratings up (sums may exceed the rating scale)"
    kept = frame.iloc[np.flatnonzero(keep)]
    warning = DataWarning(
        f"{n_extra} duplicate (user, item) rows were merged and {note}",
        f"{label}, e.g. user '{first['user_id']}' and item '{first['item_id']}' at "
        f"{row_examples(_rows(same, first_row))}",
        "Choose another duplicates policy (keep last, sum, max, count) if this is not what you want" if "rating" in frame
        or policy == "count" else "If the repeated rows are repeated listens, clicks or views, choose the policy "
        "'count' (on the command line: --duplicates count) so that a pair weighs log(1 + its number of rows)",
    )
    return kept.reset_index(drop=True), [warning]


def _counted_rows(frame: pd.DataFrame, options: IntakeOptions, rating_column: str | None, label: str
                  ) -> tuple[pd.DataFrame, IntakeOptions]:
    """The `count` policy: each row gets its (user, item) pair's number of rows as a count, and the feedback is
    implicit weighted by log(1 + count) (the weighting chosen, if any, is kept)."""
    if rating_column is not None:
        raise DataError(f"The duplicates policy 'count' counts the rows of each (user, item), but column "
                        f"'{rating_column}' is mapped as the rating", label,
                        "Use 'sum' to add its values up, or leave the rating unmapped")
    feedback = options.feedback or Feedback("implicit")
    if feedback.kind == "explicit":
        raise DataError("The duplicates policy 'count' makes counts, which are implicit feedback", label,
                        "Choose implicit feedback, or another duplicates policy")
    sizes = frame.groupby(["user_id", "item_id"], sort=False)["user_id"].transform("size").astype("float64")
    return frame.assign(rating=sizes), replace(options, feedback=replace(feedback,
                                                                         count_weight=feedback.count_weight or "log"))


def build_interactions(frame: pd.DataFrame, roles: RoleMapping, options: IntakeOptions, *,
                       label: str = "interactions table", first_row: int = 2
                       ) -> tuple[pd.DataFrame, Feedback, list[DataWarning]]:
    """Canonical interactions (`user_id`, `item_id`[, `rating`, `timestamp`, `event`]) and the feedback to use."""
    out, feedback, warnings, _ = _interactions(frame, roles, options, label, first_row)
    return out, feedback, warnings


def _interactions(frame: pd.DataFrame, roles: RoleMapping, options: IntakeOptions, label: str, first_row: int
                  ) -> tuple[pd.DataFrame, Feedback, list[DataWarning], _IdCodes]:
    """`build_interactions`, plus the id codes so attribute tables are matched against the distinct ids."""
    _check_roles(frame, roles, label)
    if frame.empty:
        raise DataError("The interactions table has a header but no rows", label, "Upload a file with data rows")
    roles, empty_warnings = _without_empty_columns(frame, roles, label)
    if options.duplicates not in DUPLICATE_POLICIES:
        raise DataError(f"Unknown duplicates policy '{options.duplicates}'", label,
                        f"Use one of: {', '.join(DUPLICATE_POLICIES)}")
    out = pd.DataFrame({
        "user_id": _clean_ids(frame[roles.user], "user", roles.user, label, first_row),
        "item_id": _clean_ids(frame[roles.item], "item", roles.item, label, first_row),
    })
    if roles.rating is not None:
        out["rating"] = _clean_ratings(frame[roles.rating], roles.rating, label, first_row)
    if roles.timestamp is not None:
        out["timestamp"] = to_unix_seconds(frame[roles.timestamp], roles.timestamp, first_row)
    if roles.event is not None:
        out["event"] = _clean_events(frame[roles.event], roles.event, label, first_row)
    if options.duplicates == "count":
        out, options = _counted_rows(out, options, roles.rating, label)
    feedback, warnings = _resolve_feedback(out, options, label, roles.rating)
    codes = _IdCodes.of(out)
    out, duplicate_warnings = _resolve_duplicates(out, codes, options.duplicates, feedback, label, first_row)
    # merging duplicate rows keeps one row of every pair, so the distinct ids stay those of the codes
    for role, count in (("user", len(codes.user_values)), ("item", len(codes.item_values))):
        if count < 2:
            raise DataError(f"The interactions name only {count} {role}", label,
                            f"A recommender needs at least two {role}s to compare; check that the {role} id column "
                            "is the right one")
    if not (Dataset(out, feedback=feedback).positive_weights() > 0).any():
        raise DataError(f"No interaction counts as a positive under {feedback.describe()}", label,
                        "Lower the threshold, or give the event types that signal interest a weight above 0")
    return out, feedback, empty_warnings + warnings + duplicate_warnings, codes


def _check_kinds(kinds: dict[str, AttributeKind], columns: list[str], label: str) -> None:
    for column, kind in kinds.items():
        if column not in columns:
            raise DataError(f"Attribute '{column}' is not a column", f"{label}, columns: {', '.join(columns)}",
                            "Set kinds only for columns of the table")
        if kind not in ATTRIBUTE_KINDS:
            raise DataError(f"Unknown attribute kind '{kind}' for '{column}'", label,
                            f"Use one of: {', '.join(ATTRIBUTE_KINDS)}")


def _long_values(values: pd.Series, column: str, kind: AttributeKind, label: str, first_rows: np.ndarray
                 ) -> list[DataWarning]:
    limit = LONG_VALUE.get(kind, _LONG_VALUE_DEFAULT)
    long = (values.astype("string").str.len() > limit).fillna(False).to_numpy(bool)
    if not long.any():
        return []
    fix = ("Check the file: a value this long is usually a delimiter or quoting problem" if kind == "text" else
           "Set the attribute's kind to text if it is free text, or to ignore")
    return [DataWarning(f"{int(long.sum()):,} values of {kind} attribute '{column}' are longer than {limit:,} "
                        f"characters: {value_examples(values, long, first_rows)}", label, fix)]


def _check_matching_ids(attribute_ids: pd.Series, interaction_ids: pd.Series, side: str, label: str, joined: bool
                        ) -> list[DataWarning]:
    """Refuse an attribute table none of whose ids occur in the interactions; say how many do when some don't."""
    known = pd.Index(interaction_ids.unique())
    described = pd.Index(attribute_ids)
    # Arrow's set lookup: pandas' isin on text is about 40 times slower at a few hundred thousand ids
    found = pc.is_in(pa.array(known.astype(str), type=pa.string()),
                     value_set=pa.array(described.astype(str), type=pa.string()))
    matched = int(pc.sum(found).as_py() or 0)
    if matched == 0:
        raise DataError(f"None of the {len(described):,} ids in {label} is {_article(side)} {side} id of the interactions",
                        f"{label} has ids such as {_quoted(described[:3])}; the interactions have "
                        f"{_quoted(known[:3])}",
                        f"Pick the column of {label} that holds the same {side} ids as the interactions")
    warnings = []
    if matched < len(known):
        covered = (f"have rows in {label}; the others have none of its attributes (a table of tags usually covers "
                   f"some {side}s)" if joined else
                   f"have attributes; the other {len(known) - matched:,} are seen without attributes")
        warnings.append(DataWarning(
            f"{matched:,} of the {len(known):,} {side}s in the interactions ({matched / len(known):.0%}) {covered}",
            label, f"Add rows for them to {label} if {'its ' if joined else ''}attributes should describe every "
                   f"{side}"))
    unknown = known.get_indexer(described) < 0
    if unknown.any():
        warnings.append(DataWarning(
            f"{int(unknown.sum()):,} ids have attributes but no interactions (e.g. {_quoted(described[unknown][:3])}); "
            "they are kept as entities with zero interactions", label,
            "Check that the id column matches the interactions if this is unexpected"))
    return warnings


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _quoted(ids) -> str:
    return ", ".join(f"'{str(v)[:40]}'" for v in ids)


def _gathered_warning(frame: pd.DataFrame, id_column: str, rows: int, label: str, gathered: _Gathered
                      ) -> DataWarning:
    measures, values = gathered.measures, [c for c in frame.columns if c != id_column
                                            and c not in gathered.measures and c not in gathered.other_side]
    listed = [c for c in values if frame[c].astype("string").str.contains("|", regex=False).fillna(False).any()]
    weighted = [c for c in values if frame[c].astype("string").str.startswith("{").fillna(False).any()]
    shown = (listed or weighted)[:1]
    example = "" if not shown else (f", e.g. '{shown[0]}' of '{frame[id_column].iloc[0]}': "
                                    f"'{str(frame[shown[0]].iloc[0])[:60]}'")
    ignored = "" if not measures else (
        f"; {', '.join(repr(c) for c in measures)} {'measures' if len(measures) == 1 else 'measure'} each row "
        "(numbers such as a tag's weight or a day), and "
        "gathered per id their numbers would read as values shared by unrelated ids, so they are ignored as values")
    weighs = "" if not weighted else (
        f"; how often each value of {', '.join(repr(c) for c in weighted)} was given is kept, as "
        + (f"its summed '{gathered.weight}'" if gathered.weight else "the number of rows that give it to the id")
        + " (the models read the values as a set)")
    return DataWarning(f"{rows:,} rows describe {len(frame):,} ids, several rows per id (a long table such as tag "
                       f"assignments): the values of each column were gathered per id as a "
                       f"list{example}{ignored}{weighs}",
                       label, "Set a column's kind to ignore if its values do not describe the id, or a measuring "
                              "column's kind to multi to keep its numbers as values")


def _row_measures(frame: pd.DataFrame, id_column: str) -> list[str]:
    """The columns of a long table that measure each row (ignored by default once gathered), beside a column that
    names the values they measure; a long table of numeric codes alone (an item's category numbers) keeps them."""
    values = [str(c) for c in frame.columns if c != id_column]
    measures = [c for c in values if measures_each_row(c, frame[c])]
    return measures if len(measures) < len(values) else []


@dataclass(frozen=True)
class _Gathered:
    """A long table gathered to one row per id, the columns that measured its rows and those holding the other
    side's ids (both ignored by default), and the measuring column that weighed the values (None: each value
    weighs its number of rows)."""

    frame: pd.DataFrame
    measures: list[str]
    other_side: list[str]
    weight: str | None


def _gathered_long_table(frame: pd.DataFrame, id_column: str, other_side: list[str]) -> _Gathered:
    """The one measuring column whose name does not say when (`tagWeight`, `count`, `relevance`, not `day`)
    weighs the values; with none or several, a value weighs its number of rows."""
    measures = _row_measures(frame, id_column)
    weighing = [c for c in measures if not says_when(c)]
    weight = weighing[0] if len(weighing) == 1 else None
    gathered = gather_by_id(frame, id_column, plain=(*measures, *other_side), weight_column=weight)
    return _Gathered(gathered, measures, other_side, weight)


def attribute_kinds(frame: pd.DataFrame, id_column: str, side: str) -> dict[str, AttributeKind]:
    """The kinds saving infers for a `side` ("item" or "user") attribute table keyed by `id_column`, for a form to
    pre-set: a long table (several rows per id, such as tag assignments) is gathered to one row per id first, as
    `build_attributes` gathers it."""
    other_side = other_side_columns(frame, id_column, side)
    if not is_long_format(frame, id_column):
        return {**infer_attribute_kinds(frame, id_column), **dict.fromkeys(other_side, "ignore")}
    gathered = _gathered_long_table(frame, id_column, other_side)
    return {**infer_attribute_kinds(gathered.frame, id_column),
            **dict.fromkeys([*gathered.measures, *other_side], "ignore")}


def other_side_columns(frame: pd.DataFrame, id_column: str, side: str) -> list[str]:
    """Columns holding ids of the interactions' other side (the user who gave a tag, in an item table): as
    attributes they would tell a model who interacted with a new item, so they are ignored by default."""
    return [str(c) for c in frame.columns if str(c) != id_column and names_the_other_side(str(c), side)]


def other_side_note(columns: list[str], side: str) -> str:
    """Why `other_side_columns` are ignored by default, for a warning or a form."""
    return (f"{', '.join(repr(c) for c in columns)} {'holds' if len(columns) == 1 else 'hold'} "
            f"{'item' if side == 'user' else 'user'} ids: as {_article(side)} {side} attribute it would tell a model "
            f"who interacted with a new {side}, which a new-{side} evaluation must not know, so it is ignored")


def build_attributes(table: AttributeInput, canonical_id: str, interaction_ids: pd.Series, joined: bool = False
                     ) -> tuple[pd.DataFrame, dict[str, AttributeKind], list[DataWarning]]:
    """A canonical attribute table keyed by `canonical_id` (`item_id`/`user_id`) with one row per id, and kinds;
    `joined` when other tables of the side will be joined to it."""
    frame, label, side = table.frame, table.label, canonical_id.removesuffix("_id")
    columns = [str(c) for c in frame.columns]
    if table.id_column not in columns:
        raise DataError(f"The id column '{table.id_column}' is not in the file",
                        f"{label}, columns: {', '.join(columns)}",
                        f"Pick the column that holds the ids used in the interactions, or name it {canonical_id}")
    warnings: list[DataWarning] = []
    ids = ids_as_strings(frame[table.id_column])
    missing = ids.isna()
    if missing.any():
        warnings.append(DataWarning(f"{int(missing.sum())} rows without an id were skipped",
                                    f"{label}, {row_examples(_rows(missing, table.first_row))}",
                                    "Fill in their ids if they matter"))
    repeated = ids.duplicated() & ~missing
    _check_id_lengths(ids, side, table.id_column, label, table.first_row)
    first_rows = _rows(~missing & ~repeated, table.first_row)  # the file row of each id's first row
    measures: list[str] = []
    other_side = [c for c in other_side_columns(frame, table.id_column, side) if c not in table.kinds]
    if is_long_format(frame, table.id_column):
        gathered = _gathered_long_table(frame, table.id_column, other_side)
        frame, measures = gathered.frame, gathered.measures
        warnings.append(_gathered_warning(frame, table.id_column, len(ids), label, gathered))
    else:
        if repeated.any():
            warnings.append(DataWarning(f"{int(repeated.sum())} rows repeat an id already seen, "
                                        f"e.g. '{ids[repeated].iloc[0]}'; the first row of each id was kept",
                                        f"{label}, {row_examples(_rows(repeated, table.first_row))}",
                                        "Keep one row per id"))
        frame = frame.loc[~missing & ~repeated].reset_index(drop=True)
    attributes = frame.drop(columns=[table.id_column])
    attributes.columns = [str(c) for c in attributes.columns]
    if canonical_id in attributes.columns:
        raise DataError(f"The table has a column '{canonical_id}' besides its id column '{table.id_column}'",
                        f"{label}, columns: {', '.join(columns)}",
                        f"Pick '{canonical_id}' as the id column, or rename or remove the other one")
    attributes.insert(0, canonical_id, ids_as_strings(frame[table.id_column]))
    warnings += _check_matching_ids(attributes[canonical_id], interaction_ids, side, label, joined)
    _check_kinds(table.kinds, columns, label)
    if other_side:
        warnings.append(DataWarning(other_side_note(other_side, side), label, "Set its kind to multi to use it anyway"))
    kinds = {**infer_attribute_kinds(attributes, canonical_id), **dict.fromkeys(measures, "ignore"),
             **dict.fromkeys(other_side, "ignore"), **table.kinds}
    kinds.pop(table.id_column, None)
    for column, kind in kinds.items():
        values = attributes[column]
        warnings += _long_values(values, column, kind, label, first_rows)
        if kind == "numeric":
            numbers = to_numbers(values)
            unread = numbers.isna() & ~is_blank(values)
            # only cells that are no plain number are read through their units ('$12.99', '1,234', 'Free')
            amounts = to_amounts(values.where(unread)) if unread.any() else numbers
            units = unread & amounts.notna()
            if units.any():
                numbers = numbers.mask(units, amounts)
                warnings.append(DataWarning(f"{int(units.sum()):,} values of numeric attribute '{column}' are "
                                            f"numbers with a unit or 'Free' and are read as numbers: "
                                            f"{value_examples(values, units, first_rows)}", label,
                                            "Set the attribute's kind to categorical if they are not amounts"))
            lost = numbers.isna() & ~is_blank(values)
            if lost.any():
                warnings.append(DataWarning(f"{int(lost.sum()):,} values of numeric attribute '{column}' are not "
                                            f"numbers and count as missing: {value_examples(values, lost, first_rows)}",
                                            label, "Fix them or set the attribute's kind to categorical"))
            attributes[column] = numbers
            continue
        if kind == "date":
            lost = parse_dates(values).isna().to_numpy() & ~is_blank(values).to_numpy()
            if lost.any():
                warnings.append(DataWarning(f"{int(lost.sum()):,} values of date attribute '{column}' are not dates "
                                            f"and count as missing: {value_examples(values, lost, first_rows)}", label,
                                            "Use ISO dates such as 2024-03-01, or set the attribute's kind to "
                                            "categorical"))
        if kind == "multi":
            attributes[column] = as_multi_values(values)
            continue
        attributes[column] = values.astype("string").str.strip().replace("", pd.NA).astype("str")
    return attributes, kinds, warnings


def join_attributes(tables: Sequence[AttributeInput], canonical_id: str, interaction_ids: pd.Series,
                    interactions_column: str | None = None
                    ) -> tuple[pd.DataFrame, dict[str, AttributeKind], list[DataWarning]]:
    """Several attribute tables of one side as one, as public data sets ship them (MovieLens' movies.csv with
    genres and tags.csv with a row per tag; HetRec's bookmarks.dat and bookmark_tags.dat): each table validated on
    its own, then joined on the id, an id missing from a table having no values there. A table keyed by another
    id that an earlier table lists beside the side's id is joined through it (goodbooks-10k's book_tags.csv by
    goodreads_book_id, listed in books.csv). A column named as one of an earlier table is told apart by its file's
    name (`tags.title`)."""
    joined: pd.DataFrame | None = None
    kinds: dict[str, AttributeKind] = {}
    warnings: list[DataWarning] = []
    side = canonical_id.removesuffix("_id")
    for position, table in enumerate(tables):
        table, extra = _keyed_through_earlier(table, tables[:position], side)
        if not extra and interactions_column is not None:
            extra = _unlike_id_name(table, interactions_column, side, interaction_ids)
        warnings += extra
        frame, table_kinds, extra = build_attributes(table, canonical_id, interaction_ids, joined=len(tables) > 1)
        warnings += extra
        taken = set(kinds) | {canonical_id}
        renamed = {c: _unique_name(f"{_file_stem(table.label)}.{c}", taken) for c in table_kinds if c in taken}
        if renamed:
            frame = frame.rename(columns=renamed)
            table_kinds = {renamed.get(c, c): kind for c, kind in table_kinds.items()}
            warnings.append(DataWarning(
                f"{', '.join(f'{old!r} is named {new!r}' for old, new in renamed.items())}: an earlier attribute "
                "table has a column of the same name", table.label, "Rename the column in the file to choose its name"))
        kinds.update(table_kinds)
        joined = frame if joined is None else joined.merge(frame, on=canonical_id, how="outer", sort=False)
    if joined is None:
        raise ValueError("join_attributes needs at least one table")
    return joined, kinds, warnings


def _keyed_through_earlier(table: AttributeInput, earlier: Sequence[AttributeInput], side: str
                           ) -> tuple[AttributeInput, list[DataWarning]]:
    """`table` keyed by the side's ids when its id column is a column of an earlier table that maps it to that
    table's ids one to one (rows whose key it does not map are skipped), else `table` as it is."""
    for before in earlier:
        if table.id_column == before.id_column or table.id_column not in [str(c) for c in before.frame.columns]:
            continue
        pairs = pd.DataFrame({"key": ids_as_strings(before.frame[table.id_column]),
                              "id": ids_as_strings(before.frame[before.id_column])}).dropna().drop_duplicates()
        unique = pairs.drop_duplicates("key", keep=False)
        mapped = ids_as_strings(table.frame[table.id_column]).map(unique.set_index("key")["id"])
        frame = table.frame.assign(**{table.id_column: mapped})
        skipped = int(mapped.isna().sum())
        said = (f"{table.label} is keyed by '{table.id_column}', which {before.label} lists beside its {side} ids "
                f"('{before.id_column}'): its rows were joined through it" +
                (f"; {skipped:,} rows whose '{table.id_column}' {before.label} does not list once were skipped"
                 if skipped else ""))
        return replace(table, frame=frame.loc[mapped.notna()].reset_index(drop=True)), [
            DataWarning(said, table.label, f"Pick '{table.id_column}' in {table.label} only if it means the same")]
    return table, []


def _unlike_id_name(table: AttributeInput, interactions_column: str, side: str, interaction_ids: pd.Series
                    ) -> list[DataWarning]:
    """A warning when a table's id column is named for another entity than the interactions' ids (`tag_id`
    beside `book_id`): numeric ids of unrelated things overlap, so the join alone does not show the mistake."""
    if table.id_column == interactions_column or not names_another_entitys_id(table.id_column, side):
        return []
    ids = ids_as_strings(table.frame[table.id_column]).dropna().drop_duplicates()
    matched = int(ids.isin(set(interaction_ids.astype(str))).sum())
    return [DataWarning(f"{table.label} is keyed by '{table.id_column}', named unlike the interactions' {side} "
                        f"column '{interactions_column}'; {matched:,} of its {len(ids):,} ids are {side} ids there",
                        table.label, f"Check that '{table.id_column}' holds the same ids as '{interactions_column}', "
                                     f"or leave {table.label} out if it describes something else (a list of tags)")]


def _file_stem(label: str) -> str:
    """`tags.csv` -> `tags`, `goodreads_books.json.gz` -> `goodreads_books`, `items.tags.csv` -> `items.tags`."""
    return Path(Path(label).name.removesuffix(".gz").removesuffix(".zip")).stem


def _unique_name(name: str, taken: set[str]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name} {number}", number + 1
    return candidate


def _as_tables(tables: AttributeInput | Sequence[AttributeInput] | None) -> list[AttributeInput]:
    return [] if tables is None else [tables] if isinstance(tables, AttributeInput) else list(tables)


def build_dataset(interactions: pd.DataFrame, roles: RoleMapping, options: IntakeOptions = IntakeOptions(), *,
                  items: AttributeInput | Sequence[AttributeInput] | None = None,
                  users: AttributeInput | Sequence[AttributeInput] | None = None, name: str = "",
                  label: str = "interactions table", first_row: int = 2) -> IntakeResult:
    """Validate an interactions table and optional attribute tables (one or several per side, joined on the id)
    into one `Dataset`, or raise a `DataError`."""
    frame, feedback, warnings, codes = _interactions(interactions, roles, options, label, first_row)
    dataset = Dataset(interactions=frame, feedback=feedback, name=name)
    if _as_tables(items):
        dataset.items, dataset.item_kinds, extra = join_attributes(_as_tables(items), "item_id",
                                                                   codes.item_values.to_series(), roles.item)
        warnings += extra
    if _as_tables(users):
        dataset.users, dataset.user_kinds, extra = join_attributes(_as_tables(users), "user_id",
                                                                   codes.user_values.to_series(), roles.user)
        warnings += extra
    return IntakeResult(dataset, warnings)
