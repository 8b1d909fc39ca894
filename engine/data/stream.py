"""Read a large uploaded CSV or TSV (optionally .gz) a block at a time onto disk, and map it back as one table.

`read_table` parses a whole file from its bytes; at tens of millions of rows the bytes, the parser's buffers and
the frame then sit in process memory together. Here Arrow's streaming CSV reader parses one block (16 MB of text)
at a time and each block goes straight to an Arrow file on disk (uncompressed, so writing it costs no more than a
copy, where Parquet's encoding tripled the CPU time of the read). The file is then memory-mapped and its name
removed: the table's columns stay file-backed pages that the system can drop and read again, not process memory,
and no file outlives the table. Detection (delimiter, encoding, header line) and the result (every column as text,
the same cells empty) are those of `read_table`, so a streamed upload gives the same dataset. A malformed row
anywhere, the last block included, raises a `DataError` naming its line, and the partial file is removed: nothing
is left half-written. Parquet, zip and JSON-lines uploads go through `read_table`. The stored dataset is written as
Parquet by `engine.data.catalog` once validated.
"""

from __future__ import annotations

import gzip
import io
import math
import uuid
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from pandas.io.parsers.readers import STR_NA_VALUES

from engine.data.errors import DataError
from engine.data.json_records import looks_like_json
from engine.data.read import (_MAX_EXPANSION, _SNIFF_CHARS, RawTable, TextLayout, _decode, _suffix, cells_span_lines,
                              check_file_name, header_names, read_table, sniff_layout)
from engine.settings import get_settings

BLOCK_BYTES = 16 * 1024 * 1024
"""Text parsed per block: large enough for Arrow's parser to run at full speed, small beside a large upload."""
_MB = 1024 * 1024
_NULLS = sorted(STR_NA_VALUES)  # the cells pandas' reader (what `read_table` uses) reads as empty


class _Unbuffered(io.RawIOBase):
    """Any readable byte stream as a raw stream, so `io.BufferedReader` can put its peekable buffer on it."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _read(self, size: int) -> bytes:
        return self.stream.read(size)


class _Capped(_Unbuffered):
    """A decompressing stream that refuses to yield more than `cap` bytes (a zip bomb's expansion)."""

    def __init__(self, stream: BinaryIO, cap: int | None, name: str) -> None:
        super().__init__(stream)
        self.cap, self.name, self.total = cap, name, 0

    def _read(self, size: int) -> bytes:
        data = self.stream.read(size)
        self.total += len(data)
        if self.cap is not None and self.total > self.cap:
            raise DataError(f"{self.name} expands to more than {self.cap // _MB} MB", self.name,
                            "Upload a smaller table or raise COLDSTART_MAX_UPLOAD_MB")
        return data


def _text_stream(source: BinaryIO, name: str, max_mb: float) -> tuple[BinaryIO, str | None]:
    """The upload's table text as a stream (gunzipped on the fly), limited as `read_table` limits it."""
    size = source.seek(0, io.SEEK_END)
    source.seek(0)
    if not math.isinf(max_mb) and size > max_mb * _MB:
        raise DataError(f"{name} is {size / _MB:.1f} MB, over the {max_mb:g} MB upload limit", name,
                        "Upload a smaller file, compress it as .gz or .zip, or raise COLDSTART_MAX_UPLOAD_MB")
    magic = source.read(2)
    source.seek(0)
    if magic == b"\x1f\x8b":
        cap = None if math.isinf(max_mb) else int(max_mb * _MB) * _MAX_EXPANSION
        inflated = gzip.GzipFile(fileobj=source)
        return io.BufferedReader(_Capped(inflated, cap, name), BLOCK_BYTES), "gzip"
    return io.BufferedReader(_Unbuffered(source), BLOCK_BYTES), None


def _sniff(stream: BinaryIO, name: str, inner: str) -> tuple[TextLayout, str]:
    """The text's layout and encoding, from its head."""
    head = stream.peek(_SNIFF_CHARS * 4)[:_SNIFF_CHARS * 4]
    if not head or head.isspace():
        raise DataError(f"{name} is empty", name, "Upload a file with a header line and data rows")
    text, encoding = _decode(head, name)
    return sniff_layout(text, inner), encoding


def stream_to_disk(source: BinaryIO, name: str, destination: Path, max_mb: float | None = None,
                   quoting: bool | None = None) -> RawTable:
    """Parse a CSV/TSV upload (optionally gzip-compressed) block by block into the Arrow file `destination`.

    Returns how the file was read, with an empty frame (`read_streamed` reads the rows back); on any error the
    destination does not exist afterwards. A file that is UTF-8 in its head but not further on is read again as
    latin-1, as `read_table` reads it. `quoting` False reads quote characters as text, None as the head says."""
    check_file_name(name)
    limit = get_settings().max_upload_mb if max_mb is None else max_mb
    stream, compression = _text_stream(source, name, limit)
    inner = name[:-3] if compression and name.lower().endswith(".gz") else name
    layout, encoding = _sniff(stream, name, inner)
    quoting = layout.quoting if quoting is None else quoting
    try:
        _write(stream, name, destination, layout, encoding, quoting)
    except _NotUtf8:
        source.seek(0)
        stream, _ = _text_stream(source, name, limit)
        encoding = "latin-1"
        _write(stream, name, destination, layout, encoding, quoting)
    return RawTable(pd.DataFrame(), name, "csv", layout.delimiter, encoding, compression, not layout.headerless,
                    1 if layout.headerless else 2)


class _NotUtf8(Exception):
    """Arrow found bytes that are not UTF-8 past the sniffed head."""


def _write(stream: BinaryIO, name: str, destination: Path, layout: TextLayout, encoding: str, quoting: bool) -> None:
    """Stream the text into `destination` (a hidden partial file renamed into place when complete); `quoting`
    overrides the layout's."""
    bad: list[str] = []

    def refuse(row: pacsv.InvalidRow) -> str:
        where = f"{name}, line {row.number}" if row.number is not None else name
        bad.append(f"{where} has {row.actual_columns} fields where {row.expected_columns} were expected")
        return "error"

    columns = [f"column_{k}" for k in range(1, len(layout.header) + 1)] if layout.headerless else None
    options = dict(
        # one parsing thread: only then does Arrow know the line number of a malformed row
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES, column_names=columns, use_threads=False,
                                       encoding="latin1" if encoding == "latin-1" else "utf8"),
        parse_options=pacsv.ParseOptions(delimiter=layout.delimiter, invalid_row_handler=refuse,
                                          quote_char='"' if quoting else False),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in columns or layout.header},
                                             null_values=_NULLS, strings_can_be_null=True,
                                             quoted_strings_can_be_null=True))
    partial = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        reader = pacsv.open_csv(stream, **options)
        schema = pa.schema([pa.field(column, pa.string()) for column in header_names(reader.schema.names)])
        rows = 0
        with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            for batch in reader:
                rows += batch.num_rows
                writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
        if rows == 0:
            raise DataError(f"{name} has a header line but no data rows", f"{name}, columns: {', '.join(schema.names)}",
                            "Upload a file that holds data below the header")
        partial.replace(destination)
    except pa.ArrowInvalid as error:
        partial.unlink(missing_ok=True)
        if not bad and encoding != "latin-1" and "UTF8" in str(error).replace("-", ""):
            raise _NotUtf8() from error
        raise _parse_error(name, bad, error) from error
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _parse_error(name: str, bad: list[str], error: pa.ArrowInvalid) -> DataError:
    if bad:
        return DataError(f"{name} cannot be parsed as a table", bad[0],
                         "Put quotes around values that contain the delimiter, and give every row the same number "
                         "of fields")
    return DataError(f"{name} cannot be parsed as a table ({str(error).splitlines()[0][:200]})", name,
                     "Check the quoting: a quote that is opened must be closed on the same row")


def _holds_json(source: BinaryIO, name: str, max_mb: float | None) -> bool:
    """Whether the upload (gunzipped) opens like JSON records, which `read_table` reads whole."""
    stream, _ = _text_stream(source, name, get_settings().max_upload_mb if max_mb is None else max_mb)
    try:
        head = stream.peek(_SNIFF_CHARS)[:_SNIFF_CHARS]
    except (OSError, EOFError):  # a broken gzip: the streamed read says so, naming the file
        head = b""
    source.seek(0)
    return looks_like_json(head.decode("latin-1"))


def read_streamed(source: BinaryIO, name: str, folder: Path, max_mb: float | None = None) -> RawTable:
    """An upload as a `RawTable`: CSV and TSV (also .gz) streamed through an Arrow file in `folder` (mapped, its
    name removed at once), other formats through `read_table`. As there, a file whose cells span lines is read again
    with quotes as text when that gives every line the same number of fields (a stray quote swallowed lines)."""
    magic = source.read(4)
    source.seek(0)
    if magic[:4] in (b"PAR1", b"PK\x03\x04", b"PK\x05\x06") or _suffix(name) in (".parquet", ".pq", ".zip"):
        return read_table(source.read(), name, max_mb)
    if _holds_json(source, name, max_mb):
        return read_table(source.read(), name, max_mb)
    folder.mkdir(parents=True, exist_ok=True)
    table = _mapped(source, name, folder, max_mb, quoting=None)
    if cells_span_lines(table.frame):
        source.seek(0)
        try:
            table = _mapped(source, name, folder, max_mb, quoting=False)
        except DataError:  # the multi-line cells were quoted on purpose
            pass
    return table


def _mapped(source: BinaryIO, name: str, folder: Path, max_mb: float | None, quoting: bool | None) -> RawTable:
    path = folder / f"upload-{uuid.uuid4().hex}.arrow"
    try:
        table = stream_to_disk(source, name, path, max_mb, quoting)
        with pa.memory_map(str(path)) as mapped:
            table.frame = pa.ipc.open_file(mapped).read_all().to_pandas()
    finally:
        path.unlink(missing_ok=True)  # the mapping outlives the name: no file is left behind, the pages stay on disk
    return table
