"""Guess what columns mean: interaction roles (user, item, rating, timestamp, event) and attribute kinds.

Guesses are only defaults; the Data page shows them so the user can correct them before anything is saved.
The same rules serve uploads and the canonical folder reader, so both see a table the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.data.cell_values import has_units, is_bracketed_list, is_weighted, list_separator, to_amounts
from engine.data.dataset import AttributeKind
from engine.data.errors import DataError, row_examples, value_examples

ROLES = ("user", "item", "rating", "timestamp", "event")

# Normalised header names (lower case, letters and digits only) that name a role, best first.
_ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "user": ("userid", "user", "uid", "customerid", "customer", "visitorid", "memberid", "reviewerid",
             "accountid", "clientid", "sessionid"),
    "item": ("itemid", "item", "iid", "movieid", "movie", "productid", "product", "sku", "asin", "articleid",
             "bookid", "isbn", "trackid", "songid", "contentid", "artistid", "artist", "bookmarkid", "newsid",
             "gameid", "appid", "businessid", "recipeid", "animeid", "beerid", "paperid", "postid", "videoid",
             "courseid", "venueid", "poiid", "restaurantid", "hotelid"),
    "rating": ("rating", "ratings", "score", "stars", "star", "value", "grade", "preference", "overall",
               # counts and strengths of implicit feedback (read as such when they look like counts)
               "playcount", "plays", "listens", "count", "counts", "views", "clicks", "quantity", "weight",
               "hours", "hoursplayed", "playtime", "playtimeforever"),
    "timestamp": ("timestamp", "time", "ts", "datetime", "date", "eventtime", "createdat", "ratedat", "unixtime",
                  "unixreviewtime"),
    "event": ("event", "eventtype", "action", "behavior", "behaviour", "interaction", "type", "eventname"),
}
# Ends of normalised names that still name a rating (Book-Crossing's 'Book-Rating', 'review_score', 'user_stars').
_RATING_ENDINGS = ("rating", "score", "stars")
# A headerless column is guessed to hold event types when it has this few distinct values (purchase, play, ...).
_MAX_EVENT_TYPES = 20
# A headerless numeric column is guessed to hold unix times when its typical value is after 1973 in seconds.
_SOME_UNIX_TIME = 1e8
_DIGIT = re.compile(r"\d")
# A numeric attribute may spell 'unknown' in this many ways (the cells then count as missing, with a warning).
_MAX_PLACEHOLDERS = 3
# Attribute columns whose names say they identify rather than describe (never useful as features as-is).
_IDENTIFIER_NAME = re.compile(r"(^|_)(id|ids|uuid|zip|zipcode|postcode|postal|url|uri|link|email|phone)($|_)")
_ANY_ID = re.compile(r"(^|_)ids?$")
_OTHER_ENTITY_ID = re.compile(r"[a-z0-9]_ids?$")
"""`author_id`, `authors_author_id`, `album_ids`: the id of something else than the row (the row's own id is the
table's id column)."""
_WHEN_NAME = re.compile(r"(^|_)(time|timestamp|ts|date|datetime|year|month|week|day|hour|minute|second|created|"
                        r"updated|modified)s?($|_)")
"""`timestamp`, `day`, `createdAt`: a time or a part of one, which dates a long table's rows."""
_SHARED_ID_ROWS = 0.25
"""An id of another entity is a feature when at least this share of rows shares its value with another row (a
quarter of the books by an author with several), not when it is near-unique per row (an ISBN)."""
_URL = re.compile(r"^(https?|ftp)://", re.IGNORECASE)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?"  # ISO dates and times
                   r"|^\d{1,2}[-/][A-Za-z]{3}[-/]\d{4}$"  # 01-Jan-1995
                   r"|^\d{1,2}/\d{1,2}/\d{4}( \d{1,2}:\d{2}(:\d{2})?( ?[AP]M)?)?$"  # 1/31/1995, 11/15/2019 8:55:22 AM
                   r"|^[A-Za-z]{3,9}\.? \d{1,2}, \d{4}$"  # Aug 13, 2006 (Last.fm sign-ups, Steam releases)
                   r"|^\d{1,2} [A-Za-z]{3,9},? \d{4}$")  # 13 Aug 2006
# Kinds and roles are guessed from the first rows: enough to decide, and cheap on million-row tables.
_INFERENCE_SAMPLE = 5000
# Unix times after 2286 are really milliseconds (or micro-/nanoseconds): scale them down.
_MAX_SECONDS = 10_000_000_000


def to_numbers(values: pd.Series) -> pd.Series:
    """Values as float64, anything that is not a number becoming NaN.

    A strict cast is tried first because pandas' lenient parser is about ten times slower on text columns; only
    a column that really holds non-numbers pays for the lenient pass (which finds them). Text held by Arrow (what
    the CSV reader gives) is cast by Arrow itself: pandas would first make a Python object of every cell.
    """
    if pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    try:
        if hasattr(values.array, "__arrow_array__") and pd.api.types.is_string_dtype(values):
            text = pc.utf8_trim_whitespace(values.array.__arrow_array__())
            numbers = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
            return pd.Series(numbers, index=values.index, name=values.name)
        return values.astype("float64")
    except (ValueError, TypeError, ArithmeticError, pa.ArrowInvalid):
        return pd.to_numeric(values, errors="coerce").astype("float64")


def is_blank(values: pd.Series) -> pd.Series:
    """Missing or whitespace-only cells (what a person means by an empty cell)."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return values.isna()
    text = values.astype("string")
    return (text.isna() | (text.str.strip() == "")).astype(bool)


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


@dataclass(frozen=True)
class RoleMapping:
    """Which column of an interactions table plays which role; `None` when the table has no such column."""

    user: str | None
    item: str | None
    rating: str | None = None
    timestamp: str | None = None
    event: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {role: getattr(self, role) for role in ROLES}


def detect_roles(frame: pd.DataFrame) -> RoleMapping:
    """Guess column roles from header names, falling back to position (user, item, rating, timestamp)."""
    columns = [str(c) for c in frame.columns]
    found: dict[str, str] = {}
    for role in ROLES:
        for alias in _ROLE_NAMES[role]:
            match = next((c for c in columns if _normalise(c) == alias and c not in found.values()), None)
            if match is not None:
                found[role] = match
                break
    rated = next((c for c in columns if _normalise(c).endswith(_RATING_ENDINGS) and c not in found.values()), None)
    if "rating" not in found and rated is not None:
        found["rating"] = rated
    if "user" not in found and "item" not in found:
        # Headerless or unfamiliar tables (u.data style): user, item, rating, timestamp by position. When only one
        # id was recognised, the other is left unmapped so the user is asked rather than silently guessed for.
        found.update(_roles_by_position(frame, [c for c in columns if c not in found.values()], found))
    return RoleMapping(**{role: found.get(role) for role in ROLES})


def _roles_by_position(frame: pd.DataFrame, free: list[str], found: dict[str, str]) -> dict[str, str]:
    """Roles of a table without telling names: a column of dates is the timestamp (Last.fm 1K's listening times,
    second of six columns); user and item ids come first among the others (an id column is never blank, so a column
    with blanks, such as Last.fm's artist MBIDs, gives way to the next one, its artist names), then, in the columns
    after the item, a column of a few event types (Steam's purchase/play), unix times and a numeric rating."""
    roles: dict[str, str] = {}
    sample = frame.head(_INFERENCE_SAMPLE)
    dated = next((c for c in free if _non_empty_text(sample[c]).str.match(DATE).mean() > 0.9), None)
    if dated is not None and "timestamp" not in found:
        roles["timestamp"] = dated
        free = [c for c in free if c != dated]
    for role in ("user", "item"):
        complete = [c for c in free if not is_blank(sample[c]).any()]
        if complete or free:
            roles[role] = (complete or free)[0]
            free = [c for c in free if c != roles[role]]
    if "item" not in roles:
        return roles
    columns = [str(c) for c in frame.columns]
    for column in [c for c in columns[columns.index(roles["item"]) + 1:] if c in free]:
        if _mostly_numeric(sample[column]):
            role = "timestamp" if float(to_numbers(sample[column]).median()) > _SOME_UNIX_TIME else "rating"
        elif 2 <= _non_empty_text(sample[column]).nunique() <= _MAX_EVENT_TYPES:
            role = "event"
        else:
            break
        if role in found or role in roles:
            break
        roles[role] = column
    return roles


def looks_like_counts(values: pd.Series) -> bool:
    """Whether a numeric `rating` column holds counts or amounts (plays, views, quantities, hours played) rather
    than a rating scale.

    Counts and amounts are numbers from 0 up with no fixed top and a heavy right tail: the largest values are many
    times the typical one (play counts of 1 to 350,000 with a median of 12; hours played of 0.1 to 4,000 with a
    median of 5). Rating scales top out at a round number close to their typical value (1..5, 0.5..5 in half stars,
    1..10, 0..100): a median of 4 on 1..5 or 70 on 0..100.
    """
    numbers = to_numbers(values).dropna()
    if numbers.empty or (numbers < 0).any():
        return False
    top, median = float(numbers.max()), max(float(numbers.median()), 1.0)
    return top > 10 and (top >= 10 * median or float(numbers.quantile(0.99)) >= 4 * median)


def _non_empty_text(values: pd.Series) -> pd.Series:
    text = values.dropna().astype(str).str.strip()
    return text[text != ""]


def _mostly_numeric(values: pd.Series, share: float = 0.98) -> bool:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.notna().any()
    text = _non_empty_text(values.head(_INFERENCE_SAMPLE))
    if text.empty:
        return False
    return to_numbers(text).notna().mean() >= share


def _numeric_with_placeholders(text: pd.Series) -> bool:
    """Numbers but for a few spellings of 'unknown' (IMDb's '\\N', '?', '-', 'unknown'; Book-Crossing leaves 40% of
    ages unknown): most cells are numbers of ten or more distinct values, the others take at most
    `_MAX_PLACEHOLDERS` distinct values."""
    numbers = to_numbers(text)
    return (numbers.notna().mean() >= 0.5 and numbers.nunique() >= 10
            and text[numbers.isna()].nunique() <= _MAX_PLACEHOLDERS)


def infer_attribute_kind(name: str, values: pd.Series) -> AttributeKind:
    """A default kind for one attribute column: what a feature encoder should make of it.

    Identifier-like columns (ids, zip codes, URLs, near-unique codes) are ignored: as features they would only
    memorise rows. Ids of another entity that rows share (a book's `author_id`, a track's `album_id`) are that
    entity, categorical (multi-valued when listed). Dates are dates (how recent an item is often predicts its
    audience), numbers numeric (also with units: `$12.99`, `1,234`, `Free`), lists multi-valued (`a|b`,
    `['a', 'b']`, `a, b`: see `cell_values`), many-word strings text, and everything else with repeating values
    categorical.
    """
    text = _non_empty_text(values)
    if text.empty:
        return "ignore"
    sample = text.head(2000)
    n = len(text)
    n_unique = text.nunique()
    words_of_name = _normalise_words(name)
    if _IDENTIFIER_NAME.search(words_of_name):
        if not _OTHER_ENTITY_ID.search(words_of_name):
            return "ignore"
        if _is_list(sample):
            return "multi"  # a row's set of them is its own, each of them is shared (HetRec's tagID per bookmark)
        counts = text.value_counts()
        shared = counts[counts >= 2].sum() / n  # the encoder keeps the values seen twice, the rest are '<other>'
        return "categorical" if shared >= _SHARED_ID_ROWS else "ignore"
    if sample.str.match(_URL).mean() > 0.5:
        return "ignore"
    if sample.str.match(DATE).mean() > 0.9:
        return "date"
    if _mostly_numeric(values) or _numeric_with_placeholders(sample):
        return "numeric"
    if sample.str.contains(_DIGIT).mean() >= 0.5 and has_units(sample).any() \
            and to_amounts(sample).notna().mean() >= 0.9:
        return "numeric"
    if _is_list(sample):
        return "multi"
    words = sample.str.count(r"\s+") + 1
    if words.mean() >= 2.5 or (n_unique > 0.5 * n and words.mean() >= 2):
        return "text"
    if n_unique > max(0.5 * n, 50) and n > 20:
        return "ignore"
    return "categorical"


def _is_list(sample: pd.Series) -> bool:
    return bool((is_bracketed_list(sample) | is_weighted(sample)).mean() > 0.5) or list_separator(sample) is not None


def names_an_id(name: str) -> bool:
    """Whether a name says its values are ids: `id`, `author_id`, `authorId`, `Author IDs`; not `paid`."""
    return _ANY_ID.search(_normalise_words(name)) is not None


def _normalise_words(name: str) -> str:
    """`Author ID`, `authorId`, `author-id` -> `author_id`."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    return re.sub(r"[^a-z0-9]+", "_", words.lower()).strip("_")


def measures_each_row(name: str, values: pd.Series) -> bool:
    """Whether a column of a long attribute table measures its rows (`tagWeight`, `relevance`, `day`) rather than
    naming values (`tagID`, `tag`): numbers under a name that is not an id's."""
    return not _IDENTIFIER_NAME.search(_normalise_words(name)) and _mostly_numeric(values.head(_INFERENCE_SAMPLE))


def guess_id_column(side: str, columns: list[str], interactions_column: str | None) -> str:
    """The id column of a `side` ("item" or "user") attribute table: `item_id` / `user_id`, else the column named
    like the interactions' one ('ISBN' in both, MovieLens' `movieId` in tags.csv after its `userId`), else one
    named as the side's role (`bookmarkID`), else the first column."""
    named = next((c for alias in _ROLE_NAMES[side] for c in columns if _normalise(c) == alias), None)
    return next((c for c in (f"{side}_id", interactions_column, named) if c in columns), columns[0])


def names_another_entitys_id(name: str, side: str) -> bool:
    """Whether an id column's name says it keys something other than `side`'s entities as the interactions name
    them: `tag_id`, `tagID`, `goodreads_book_id`; not `id`, `item_id`, `movieId`."""
    return (_OTHER_ENTITY_ID.search(_normalise_words(name)) is not None and _normalise(name) not in _ROLE_NAMES[side]
            and _normalise_words(name) != f"{side}_id")


def names_the_other_side(name: str, side: str) -> bool:
    """Whether a column of `side`'s attribute table holds ids of the interactions' other side: MovieLens'
    tags.csv names the user who gave each tag (`userId`), so gathered per movie it lists who watched it."""
    other, key = ("user" if side == "item" else "item"), _normalise(name)
    return any(key == alias for alias in _ROLE_NAMES[other] if alias.endswith("id") or alias == other)


def says_when(name: str) -> bool:
    """Whether a column's name says it holds a time or a part of one (`timestamp`, `day`, `createdAt`), which a long
    table's rows are dated by, not weighed by."""
    return _WHEN_NAME.search(_normalise_words(name)) is not None


def infer_attribute_kinds(table: pd.DataFrame, id_column: str) -> dict[str, AttributeKind]:
    """Default kinds for every attribute column of an item or user table (the id column is not an attribute)."""
    return {str(c): infer_attribute_kind(str(c), table[c]) for c in table.columns if c != id_column}


def ids_as_strings(values: pd.Series) -> pd.Series:
    """Ids as stripped strings; whole floats print without '.0' so 12 and 12.0 name the same entity."""
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            values = values.astype("Int64")
    text = values.astype("string").str.strip()
    return text.mask(text == "").astype("str")


def to_unix_seconds(values: pd.Series, column: str, first_row: int = 2) -> pd.Series:
    """Timestamps as int64 unix seconds, from unix seconds/milliseconds or ISO-like date strings.

    `first_row` is the file row number of the first value, so errors can name rows the user can find.
    """
    numeric = to_numbers(values) if not pd.api.types.is_datetime64_any_dtype(values) else None
    if numeric is not None and numeric.notna().all():  # the common case: unix times, nothing missing
        present = pd.Series(True, index=values.index)
    else:
        present = ~is_blank(values)
    if numeric is not None and numeric[present].notna().all() and present.any():
        seconds = numeric.astype("float64")
        while seconds[present].abs().max() > _MAX_SECONDS:
            seconds = seconds / 1000.0
        result = np.floor(seconds)
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
        bad = present & parsed.isna()
        if bad.any():
            raise DataError(
                f"Column '{column}' has {int(bad.sum()):,} values that are neither unix seconds nor dates: "
                f"{value_examples(values, bad, first_row)}", "",
                "Use unix seconds or ISO dates such as 2024-03-01 or 2024-03-01T12:30:00, or do not map a "
                "timestamp column",
            )
        # in seconds: nanoseconds overflow before 1677 (a '0001-01-01' placeholder date)
        result = (parsed.dt.as_unit("s") - pd.Timestamp(0, tz="UTC").as_unit("s")) // pd.Timedelta(seconds=1)
    missing = ~present
    if missing.any():
        rows = np.flatnonzero(missing.to_numpy()) + first_row
        raise DataError(f"Column '{column}' has empty timestamps", row_examples(rows),
                        "Fill in the missing times or delete those rows, or do not map a timestamp column")
    return pd.Series(np.asarray(result, dtype="float64").astype("int64"), index=values.index, name="timestamp")
