"""Read an uploaded table (CSV, TSV, JSON lines or Parquet, optionally .gz or .zip) from bytes, safely and predictably.

A file name is only ever used to choose a format and to name the file in messages, never as a path. Delimiter,
encoding (UTF-8, UTF-8 with BOM, latin-1), a missing header line and JSON records (`engine.data.json_records`) are
detected; every failure is a `DataError`
that says what is wrong with the file and how to fix it.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.data.columns import DATE
from engine.data.errors import DataError
from engine.data.json_records import looks_like_json, read_json_records
from engine.settings import get_settings

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".dat", ".json", ".jsonl", ".ndjson", ".parquet", ".pq")
DELIMITERS = (",", "\t", ";", "|")
_DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_MB = 1024 * 1024
# A compressed upload may expand this many times over the upload limit before we call it a zip bomb.
_MAX_EXPANSION = 10
_SNIFF_CHARS = 64 * 1024
_SNIFF_LINES = 50
_UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f\x7f;&|$`<>]")
_PARSER_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_LONGEST_NAME = 80  # characters: a header cell longer than this is taken for a value
_FORMATS_HINT = "Upload a CSV, TSV, JSON lines or Parquet file, optionally compressed as .gz or .zip"


@dataclass
class RawTable:
    """A table as read from a file, before any mapping: all text columns are strings, Parquet keeps its types."""

    frame: pd.DataFrame
    name: str
    format: str  # csv | parquet
    delimiter: str | None = None
    encoding: str | None = None
    compression: str | None = None  # gzip | zip
    has_header: bool = True
    first_row: int = 2  # file row number of the first data row, so messages can point at rows

    def describe(self) -> str:
        """One line for the page: how the file was understood."""
        parts = [self.format.upper()]
        if self.delimiter:
            parts.append(f"{_DELIMITER_NAMES[self.delimiter]}-separated")
        if self.encoding:
            parts.append(self.encoding)
        if self.compression:
            parts.append(f"{self.compression}-compressed")
        if not self.has_header:
            parts.append("no header line (columns numbered)")
        return f"{self.name}: {len(self.frame):,} rows x {self.frame.shape[1]} columns, " + ", ".join(parts)


def check_file_name(name: str) -> str:
    """The name itself if it is a plain file name; a `DataError` for path separators or shell characters."""
    if not name or not name.strip():
        raise DataError("The file has no name", "", "Give the file a name such as ratings.csv")
    bad = sorted(set(_UNSAFE_NAME.findall(name)))
    if bad:
        shown = " ".join(repr(c)[1:-1] for c in bad)
        raise DataError(f"The file name '{name[:80]}' contains characters that are not allowed: {shown}",
                        "file name",
                        "Rename the file using letters, digits, spaces, dots, dashes and underscores, e.g. ratings.csv")
    return name


def _limit_bytes(max_mb: float) -> int | None:
    return None if math.isinf(max_mb) else int(max_mb * _MB)


def _gunzip(data: bytes, name: str, cap: int | None) -> bytes:
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            while chunk := stream.read(4 * _MB):
                out.write(chunk)
                if cap is not None and out.tell() > cap:
                    raise DataError(f"{name} expands to more than {cap // _MB} MB", name,
                                    "Upload a smaller table or raise COLDSTART_MAX_UPLOAD_MB")
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{name} is not a valid gzip file ({error})", name,
                        "Compress the table again with gzip") from error
    return out.getvalue()


def _unzip(data: bytes, name: str, cap: int | None) -> tuple[bytes, str]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise DataError(f"{name} is not a valid zip file", name, "Create the zip again, holding one table") from error
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()
                   and not m.filename.startswith("__MACOSX/") and not Path(m.filename).name.startswith(".")]
        tables = [m for m in members if _suffix(m.filename) in TABLE_SUFFIXES]
        if len(tables) != 1:
            listed = ", ".join(m.filename for m in members[:8]) or "no files"
            what = "no table" if not tables else f"{len(tables)} tables"
            raise DataError(f"{name} holds {what}; it must hold exactly one", f"{name} contains {listed}",
                            "Zip exactly one CSV, TSV, JSON lines or Parquet file, or upload the tables separately")
        member = tables[0]
        if cap is not None and member.file_size > cap:
            raise DataError(f"{member.filename} in {name} is {member.file_size / _MB:.1f} MB unpacked, over "
                            f"{cap // _MB} MB", name, "Upload a smaller table or raise COLDSTART_MAX_UPLOAD_MB")
        try:
            return archive.read(member), Path(member.filename).name
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as error:
            raise DataError(f"{member.filename} in {name} cannot be unpacked ({error})", name,
                            "Create the zip again without encryption, using standard compression") from error


def _suffix(name: str) -> str:
    return Path(name.lower()).suffix


def _decode(data: bytes, name: str) -> tuple[str, str]:
    head = data[:_SNIFF_CHARS]
    if b"\x00" in head:
        raise DataError(f"{name} looks like a binary file, not a text table", name, _FORMATS_HINT)
    if data.startswith(b"\xef\xbb\xbf"):
        text, encoding = data[3:].decode("utf-8", errors="replace"), "UTF-8 with BOM"
    else:
        try:
            text, encoding = data.decode("utf-8"), "UTF-8"
        except UnicodeDecodeError:
            text, encoding = data.decode("latin-1"), "latin-1"
    sample = text[:_SNIFF_CHARS]
    control = sum(1 for c in sample if ord(c) < 32 and c not in "\t\r\n\f") + sample.count("\ufffd")
    if control > 0.02 * max(len(sample), 1):
        raise DataError(f"{name} looks like a binary file, not a text table", name, _FORMATS_HINT)
    return text, encoding


def _sample_lines(text: str) -> list[str]:
    sample = text[:_SNIFF_CHARS]
    lines = sample.splitlines()
    if len(text) > len(sample) and lines:
        lines = lines[:-1]  # the last sampled line may be cut in half
    return [line for line in lines if line.strip()][:_SNIFF_LINES]


def split_lines(lines: list[str], delimiter: str, quoting: bool = True) -> list[list[str]]:
    """The cells of sampled lines, quotes read as CSV quoting or (without `quoting`) as text."""
    return list(csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE))


def uses_quotes(lines: list[str], delimiter: str) -> bool:
    """Whether a file quotes its cells as CSV writers do. Files that do not (Last.fm's TSV, with an artist named
    '"Heroes') have lines that split alike, one row per line, only when quotes are read as text: read as quoting,
    a stray opening quote runs on to the next quote, lines and all."""
    def alike(rows: list[list[str]]) -> bool:
        return len(rows) == len(lines) and len({len(row) for row in rows}) == 1

    return alike(split_lines(lines, delimiter)) or not alike(split_lines(lines, delimiter, quoting=False))


def detect_delimiter(lines: list[str], prefer_tab: bool = False) -> str | None:
    """The delimiter that splits every sampled line into the same number (> 1) of fields (quotes read as quoting, or
    as text in a file that does not quote), the most fields when several do (a Last.fm profile saved as .csv: its
    tabs make 5 fields, the comma in 'Feb 1, 2007' 2), preferring commas on a tie; else the one that splits 90% of
    the lines alike."""
    order = ("\t",) + tuple(d for d in DELIMITERS if d != "\t") if prefer_tab else DELIMITERS
    consistent, consistent_width = None, 1
    best, best_width = None, 1
    for delimiter in order:
        widths = [len(row) for row in split_lines(lines, delimiter, uses_quotes(lines, delimiter))]
        if not widths or widths[0] <= 1:
            continue
        if all(w == widths[0] for w in widths):
            if widths[0] > consistent_width:
                consistent, consistent_width = delimiter, widths[0]
        elif widths[0] > best_width and sum(w == widths[0] for w in widths) >= 0.9 * len(widths):
            best, best_width = delimiter, widths[0]
    return consistent or best


def _is_number(cell: str) -> bool:
    return bool(cell) and pd.notna(pd.to_numeric(cell, errors="coerce"))


def _is_value(cell: str) -> bool:
    """A cell no column name looks like: a URL, a JSON list or object, a date, or a sentence-long text."""
    return cell.startswith(("http://", "https://", "[", "{")) or len(cell) > _LONGEST_NAME or bool(DATE.match(cell))


def _looks_headerless(rows: list[list[str]]) -> bool:
    """Whether the first line is data, not a header: made only of numbers (u.data-style files), holding a number
    where the next line holds one too ("u1,i7,4.0,881250949" over "u2,i9,3.0,891717742"), or holding a URL, a JSON
    list, a date or a long text (MIND's news.tsv: "N55528, lifestyle, ..., https://assets.msn.com/..."; a Last.fm
    profile whose first user's age is blank: "00000c28...\tf\t\tGermany\tFeb 1, 2007"): a column's name is none
    of these, so reading such a line as the header would drop one row and name the columns after its values."""
    first = [c.strip() for c in rows[0]] if rows else []
    if not first:
        return False
    if all(_is_number(c) for c in first) or any(_is_value(c) for c in first):
        return True
    second = [c.strip() for c in rows[1]] if len(rows) > 1 else []
    return len(second) == len(first) and any(_is_number(a) and _is_number(b) for a, b in zip(first, second))


def cells_span_lines(frame: pd.DataFrame) -> bool:
    """Whether some cell holds a line break: a quoted multi-line text, or (in files that do not quote, such as
    Last.fm's TSV with an artist named '"Heroes') a stray opening quote that swallowed the lines up to the next one."""
    for column in frame.columns:
        values = frame[column]
        if not pd.api.types.is_string_dtype(values):
            continue
        if hasattr(values.array, "__arrow_array__"):  # what the readers give: searched in place by Arrow
            if pc.any(pc.match_substring(values.array.__arrow_array__(), "\n")).as_py():
                return True
        elif values.astype("string").str.contains("\n", regex=False).any():
            return True
    return False


def _parse_csv(utf8: bytes, text: Callable[[], str], delimiter: str, headerless: bool, quoting: bool = True
               ) -> pd.DataFrame:
    """Every column as text: Arrow's multi-threaded parser first, pandas' C parser (on `text()`, the decoded file)
    when Arrow refuses the file. Without `quoting`, quote characters are text like any other."""
    options = {"sep": delimiter, "dtype": str, "header": None if headerless else 0}
    if not quoting:
        options["quoting"] = csv.QUOTE_NONE
    try:
        return pd.read_csv(io.BytesIO(utf8), engine="pyarrow", **options)
    except Exception:  # noqa: BLE001  Arrow's errors carry no line numbers; the C parser's say where the problem is
        return pd.read_csv(io.StringIO(text()), engine="c", skip_blank_lines=True, **options)


def _without_quoting(frame: pd.DataFrame, utf8: bytes, text: Callable[[], str], delimiter: str,
                     headerless: bool) -> pd.DataFrame:
    """The file read again with quotes as text, when that gives every line the same number of fields (a stray quote
    had swallowed lines); else `frame` as read (its multi-line cells were quoted on purpose)."""
    separator = delimiter.encode()
    if len({line.count(separator) for line in utf8.splitlines() if line.strip()}) != 1:
        return frame
    return _parse_csv(utf8, text, delimiter, headerless, quoting=False)


@dataclass(frozen=True)
class TextLayout:
    """How a delimited text is laid out, as told from its head."""

    delimiter: str
    quoting: bool
    """Whether quote characters quote cells (False: they are text, as in files that never quote)."""
    headerless: bool
    header: list[str]
    """The first line's cells."""


def header_names(cells: Iterable[object]) -> list[str]:
    """Header cells as distinct column names, as pandas' reader names them but after stripping: a blank one
    'Unnamed: i', a repeat 'a.1' (two header cells ' ' and '' were both '' once stripped)."""
    names: list[str] = []
    for position, cell in enumerate(cells):
        name = str(cell).strip() or f"Unnamed: {position}"
        base, repeat = name, 0
        while name in names:
            repeat += 1
            name = f"{base}.{repeat}"
        names.append(name)
    return names


def sniff_layout(text: str, name: str) -> TextLayout:
    """Delimiter (a comma when none splits the lines alike; tabs preferred for a .tsv or .tab `name`), quoting and
    header line of a delimited text, from its head: the one reading of a file's layout for whole and streamed reads."""
    lines = _sample_lines(text)
    delimiter = detect_delimiter(lines, prefer_tab=_suffix(name) in (".tsv", ".tab")) or ","
    quoting = uses_quotes(lines, delimiter)
    rows = split_lines(lines[:2], delimiter, quoting)
    return TextLayout(delimiter, quoting, _looks_headerless(rows), rows[0] if rows else [])


def _is_utf8(data: bytes) -> bool:
    """Whether `data` is valid UTF-8, checked by Arrow in place (decoding would make a second copy of the file)."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        whole.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def _read_text(data: bytes, name: str, compression: str | None) -> RawTable:
    if not data or data.isspace():  # not data.strip(): that copies the whole file
        raise DataError(f"{name} is empty", name, "Upload a file with a header line and data rows")
    if len(data) > _SNIFF_CHARS * 4 and not data.startswith(b"\xef\xbb\xbf") and _is_utf8(data):
        # a large UTF-8 file goes to Arrow's parser as it is, without a decoded copy of it beside the bytes; only
        # the head is decoded, to sniff the delimiter (and the whole text only if Arrow refuses the file)
        head = data[:_SNIFF_CHARS * 4]
        _decode(head, name)  # refuses a binary file by its head
        text, encoding, whole = head.decode("utf-8", errors="ignore"), "UTF-8", False
    else:
        (text, encoding), whole = _decode(data, name), True
    if looks_like_json(text):
        records = read_json_records(text if whole else data.decode("utf-8"), name)
        return RawTable(records, name, "json", None, encoding, compression, True, 1)
    layout = sniff_layout(text, name)
    delimiter, headerless = layout.delimiter, layout.headerless

    def decoded() -> str:
        return _decode(data, name)[0]

    try:
        utf8 = data if encoding == "UTF-8" else text.encode("utf-8")
        frame = _parse_csv(utf8, decoded, delimiter, headerless, layout.quoting)
        if layout.quoting and cells_span_lines(frame):
            frame = _without_quoting(frame, utf8, decoded, delimiter, headerless)
    except pd.errors.EmptyDataError as error:
        raise DataError(f"{name} is empty", name, "Upload a file with a header line and data rows") from error
    except pd.errors.ParserError as error:
        match = _PARSER_LINE.search(str(error))
        where = (f"{name}, line {match.group(2)} has {match.group(3)} fields where {match.group(1)} were expected"
                 if match else name)
        raise DataError(f"{name} cannot be parsed as a table", where,
                        "Put quotes around values that contain the delimiter, and give every row the same number of "
                        "fields") from error
    if headerless:
        frame.columns = [f"column_{k}" for k in range(1, frame.shape[1] + 1)]
    else:
        frame.columns = header_names(frame.columns)
    if frame.empty:
        raise DataError(f"{name} has a header line but no data rows", f"{name}, columns: {', '.join(frame.columns)}",
                        "Upload a file that holds data below the header")
    return RawTable(frame, name, "csv", delimiter, encoding, compression, not headerless, 1 if headerless else 2)


def _read_parquet(data: bytes, name: str, compression: str | None) -> RawTable:
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as error:  # pyarrow raises many types for corrupt files; all mean the same to the user
        raise DataError(f"{name} is not a readable Parquet file ({type(error).__name__})", name,
                        "Write the table again as Parquet, or upload it as CSV") from error
    frame.columns = header_names(frame.columns)
    if frame.empty:
        raise DataError(f"{name} has columns but no rows", f"{name}, columns: {', '.join(frame.columns)}",
                        "Upload a table that holds data")
    return RawTable(frame.reset_index(drop=True), name, "parquet", None, None, compression, True, 1)


def read_table(data: bytes, name: str, max_mb: float | None = None) -> RawTable:
    """Read one uploaded table from its bytes; `max_mb` defaults to the configured upload limit (inf: no limit)."""
    check_file_name(name)
    if max_mb is None:
        max_mb = get_settings().max_upload_mb
    limit = _limit_bytes(max_mb)
    if limit is not None and len(data) > limit:
        raise DataError(f"{name} is {len(data) / _MB:.1f} MB, over the {max_mb:g} MB upload limit", name,
                        "Upload a smaller file, compress it as .gz or .zip, or raise COLDSTART_MAX_UPLOAD_MB")
    cap = None if limit is None else limit * _MAX_EXPANSION
    compression, inner = None, name
    if data[:2] == b"\x1f\x8b":
        compression = "gzip"
        data = _gunzip(data, name, cap)
        inner = name[:-3] if name.lower().endswith(".gz") else name
    elif data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        compression = "zip"
        data, inner = _unzip(data, name, cap)
    elif _suffix(name) in (".gz", ".zip"):
        raise DataError(f"{name} is named like a {_suffix(name)[1:]} file but is not one", name,
                        "Compress the file again, or upload it uncompressed")
    if data[:4] == b"PAR1":
        return _read_parquet(data, name, compression)
    if _suffix(inner) in (".parquet", ".pq"):
        raise DataError(f"{name} is named like a Parquet file but is not one", name, "Write it again as Parquet")
    return _read_text(data, name, compression)


def read_path(path: str | Path) -> RawTable:
    """Read a table from a local file (no size limit), with the same detection as uploads."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as error:
        raise DataError(f"{file.name} cannot be read ({error.strerror})", str(file),
                        "Check that the file exists and is readable") from error
    return read_table(data, file.name, max_mb=math.inf)
