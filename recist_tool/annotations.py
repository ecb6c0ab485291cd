"""The annotation format: one CSV row per lesion per time point.

This module is the only place that reads or writes annotation files; the napari
plugin, the command line and the tests all go through it. The format is described
in ``docs/annotation_format.md``.

Reading is built for cohorts of millions of rows: files are parsed by pyarrow with
every column as text, checked with vectorised masks, and only when something is
wrong does a slow path work out the exact file, line, column and value to report.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import math
import mmap
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from recist_tool._atomic import atomic_write
from recist_tool.errors import AnnotationError

#: Required columns, in the order they are written.
COLUMNS: tuple[str, ...] = (
    "patient_id",
    "timepoint",
    "date",
    "lesion_id",
    "kind",
    "organ",
    "nodal",
    "long_axis_mm",
    "short_axis_mm",
    "status",
)
#: Measurement assistance: how a size was obtained (``method``) and what the lesion's
#: segmentation measured (``volume_ml``, ``mean_hu``; Choi criteria use ``mean_hu``).
METHODS: tuple[str, ...] = ("manual", "assisted", "assisted_edited")
ASSIST_COLUMNS: tuple[str, ...] = ("method", "volume_ml", "mean_hu")
#: Optional columns with a meaning to the engine; any other column is carried through.
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "slice_thickness_mm",
    "modality",
    "reader",
    "series_uid",
    "treatment_date",
    "randomisation_date",
    "baseline_incomplete",
    "signed_at",
    *ASSIST_COLUMNS,
)
#: Provenance columns added by :func:`read_annotations` (never written).
PROVENANCE_COLUMNS: tuple[str, ...] = ("_source", "_line")

#: ``DataFrame.attrs`` key marking a table checked by this module. pandas copies
#: ``attrs`` into derived frames, so the mark holds the checked frame's ``id``: see
#: :func:`is_checked`.
CHECKED = "recist_tool.checked"

KINDS: tuple[str, ...] = ("target", "non_target", "new", "new_target", "new_non_target")
STATUSES: dict[str, tuple[str, ...]] = {
    "target": ("measured", "too_small", "disappeared", "not_evaluated"),
    "non_target": ("present", "absent", "progression", "equivocal_progression", "not_evaluated"),
    "new": ("present", "equivocal"),
    # iRECIST: new lesions recorded as new-lesion targets (measured, own sum) or
    # new-lesion non-targets; under RECIST 1.1 both are new lesions.
    "new_target": ("measured", "too_small", "disappeared", "not_evaluated"),
    "new_non_target": ("present", "absent", "progression", "equivocal", "not_evaluated"),
}
_SIZE_COLUMNS = ("long_axis_mm", "short_axis_mm", "slice_thickness_mm", "volume_ml")
#: Largest size (mm) accepted in a size column in mm: a lesion or a slice larger than
#: a body (2 m) is a typo or a wrong unit, and would otherwise drive the sums.
MAX_SIZE_MM = 2000.0
_MM_COLUMNS = ("long_axis_mm", "short_axis_mm", "slice_thickness_mm")
_TOO_LARGE = f"larger than {MAX_SIZE_MM:g} mm, the largest size accepted (a typo or another unit?)"
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")
# Plain decimal (no sign, no exponent): the only size syntax accepted.
_DECIMAL_RE = r"^[0-9]+(\.[0-9]*)?$|^\.[0-9]+$"
_MAX_REPORTED = 20
_MAX_KEPT = 1_000_000  # problem rows listed under keep-going (bounded memory)


@dataclass
class Measurement:
    """One annotation row: one lesion at one time point.

    Sizes are in millimetres (``None`` when not recorded); ``extra`` holds any
    further columns (strings), which are carried through unchanged.
    """

    patient_id: str
    timepoint: str
    date: str  # YYYY-MM-DD
    lesion_id: str
    kind: str
    organ: str = ""
    nodal: bool = False
    long_axis_mm: float | None = None
    short_axis_mm: float | None = None
    status: str = "measured"
    extra: dict[str, str] = field(default_factory=dict)


def to_frame(measurements: Iterable[Measurement]) -> pd.DataFrame:
    """Build an annotation table from :class:`Measurement` records.

    Parameters
    ----------
    measurements : iterable of Measurement

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS` followed by the union of the records' extra columns.
    """
    names = [f.name for f in fields(Measurement) if f.name != "extra"]
    rows = []
    for m in measurements:
        row = {n: getattr(m, n) for n in names}
        row.update(m.extra)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=None if rows else list(COLUMNS))
    for col in ("long_axis_mm", "short_axis_mm"):
        frame[col] = pd.to_numeric(frame[col]).astype(float)
    frame["nodal"] = frame["nodal"].astype(bool)
    return frame


def from_frame(frame: pd.DataFrame) -> list[Measurement]:
    """Turn an annotation table back into :class:`Measurement` records."""
    extra_cols = [c for c in frame.columns if c not in COLUMNS and c not in PROVENANCE_COLUMNS]
    out = []
    for rec in frame.to_dict("records"):
        out.append(
            Measurement(
                patient_id=str(rec["patient_id"]),
                timepoint=str(rec["timepoint"]),
                date=_date_text(rec["date"]),
                lesion_id=str(rec["lesion_id"]),
                kind=str(rec["kind"]),
                organ=str(rec["organ"]) if _present(rec["organ"]) else "",
                nodal=bool(rec["nodal"]),
                long_axis_mm=float(rec["long_axis_mm"]) if _present(rec["long_axis_mm"]) else None,
                short_axis_mm=(
                    float(rec["short_axis_mm"]) if _present(rec["short_axis_mm"]) else None
                ),
                status=str(rec["status"]),
                extra={c: "" if not _present(rec[c]) else str(rec[c]) for c in extra_cols},
            )
        )
    return out


# --------------------------------------------------------------------------- reading


def folder_files(
    folder: Path, suffixes: tuple[str, ...], skip: tuple[str, ...] = (".",)
) -> list[Path]:
    """The files of ``folder`` (recursively, sorted by path) whose suffix is one of
    ``suffixes`` (lower case), leaving out every file under a name starting with one
    of ``skip``: hidden files and folders (editor backups, .ipynb_checkpoints, an
    interrupted run's staging folder) are not annotations."""
    return sorted(
        q
        for q in folder.rglob("*")
        if q.suffix.lower() in suffixes
        and q.is_file()
        and not any(part.startswith(skip) for part in q.relative_to(folder).parts)
    )


def annotation_files(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Expand files and folders (searched recursively for ``*.csv``, hidden files and
    folders left out) into a file list.

    Raises
    ------
    AnnotationError
        When an input does not exist or a folder holds no CSV file.
    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = folder_files(p, (".csv",))
            if not found:
                raise AnnotationError(f"{p}: folder holds no .csv annotation file")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise AnnotationError(f"{p}: no such file or folder")
    if not files:
        raise AnnotationError("no annotation file given")
    return files


def read_annotations(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    on_file: Callable[[Path], None] | None = None,
    keep_going: bool = False,
) -> pd.DataFrame:
    """Read and check annotation CSV files.

    Parameters
    ----------
    inputs : path or sequence of paths
        CSV files, or folders searched recursively for ``*.csv``.
    on_file : callable, optional
        Called with each file's path before it is read (progress display).
    keep_going : bool
        Do not stop at bad input: a patient with a bad row is left out (a file that
        cannot be read at all is left out whole) and every problem is listed in
        ``frame.attrs["input_problems"]`` (see :class:`InputProblem`).

    Returns
    -------
    pandas.DataFrame
        One row per CSV row, files concatenated in order. Identifiers, ``organ``,
        ``kind`` and ``status`` are categoricals (trimmed; ``kind`` and ``status``
        lower-case); ``date`` is ``datetime64``; ``nodal`` is bool; sizes are float
        (NaN when empty); extra columns are pyarrow-backed strings. Provenance
        columns ``_source`` (file) and ``_line`` (line number, header = 1) are added.

    Raises
    ------
    AnnotationError
        Naming the file, line, column and value of every problem found (up to 20).
        With ``keep_going``, only when no file at all could be read.
    """
    parts = []
    problems: list[InputProblem] = []
    for path in annotation_files(inputs):
        if on_file is not None:
            on_file(path)
        if not keep_going:
            parts.append(_read_one(path))
            continue
        try:
            parts.append(_read_one(path))
        except AnnotationError as exc:
            problems.append(InputProblem(str(path), None, "", "", str(exc), ""))
    if not parts:
        raise AnnotationError(
            "no annotation file could be read:\n  " + "\n  ".join(p.message for p in problems)
        )
    table = parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="permissive")
    table = table.unify_dictionaries()
    if not keep_going:
        return _convert(table)
    frame = _convert_keep_going(table, problems)
    frame.attrs["input_problems"] = problems
    return frame


@dataclass(frozen=True)
class InputProblem:
    """One problem of the input found under ``keep_going``.

    ``line`` is None for a problem of a whole file; ``patient_id`` is the patient
    left out because of it ("" when the row names none).
    """

    file: str
    line: int | None
    column: str
    value: str
    message: str
    patient_id: str


def _convert_keep_going(
    table: pa.Table, problems: list[InputProblem], row_word: str = "line"
) -> pd.DataFrame:
    """Convert, leaving out every patient with a bad row (listed in ``problems``)."""
    try:
        return _convert(table, row_word)
    except AnnotationError as exc:
        found = exc.problems
    bad_rows = np.unique(np.array([r for r, *_ in found], dtype=np.int64))
    pid_col = table.column("patient_id")
    pids = pid_col.take(pa.array(bad_rows)).to_pylist()
    pid_of = dict(zip(bad_rows.tolist(), pids, strict=True))
    for row, source, line, column, value, what in found:
        pid = pid_of.get(row)
        problems.append(InputProblem(source, line, column, value, what, (pid or "").strip()))
    bad_ids = {str(p).strip() for p in pids if p is not None and str(p).strip()}
    ids = pa.compute.utf8_trim_whitespace(pid_col.cast(pa.string()))
    drop = pa.compute.is_in(ids, value_set=pa.array(sorted(bad_ids), pa.string()))
    keep = np.asarray(pa.compute.fill_null(pa.compute.invert(drop), True))
    keep[bad_rows] = False
    return _convert(table.filter(pa.array(keep)), row_word)


def is_checked(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` itself came out of :func:`read_annotations` or a check.

    A frame derived from a checked one (a copy, a filter, a column replaced) carries
    the mark too, but not its ``id``, and is checked again.
    """
    return frame.attrs.get(CHECKED) == id(frame) and pd.api.types.is_datetime64_any_dtype(
        frame["date"]
    )


def check_measurements(measurements: Iterable[Measurement]) -> pd.DataFrame:
    """Check :class:`Measurement` records; the same result as ``check_annotations(to_frame(...))``.

    A direct path for the plugin, which evaluates its reading after every edit.
    """
    names = [f.name for f in fields(Measurement) if f.name != "extra"]
    records = list(measurements)
    extra = list(dict.fromkeys(k for m in records for k in m.extra))
    cols: dict[str, pa.Array] = {}
    for name in names:
        values = [getattr(m, name) for m in records]
        if name == "nodal":
            values = ["true" if v else "false" for v in values]
        elif name in _SIZE_COLUMNS:
            values = [None if v is None else _format_size(v) for v in values]
        else:
            values = [None if v is None else str(v) for v in values]
        cols[name] = pa.array(values, type=pa.string())
    for name in extra:
        cols[name] = pa.array([m.extra.get(name) or None for m in records], type=pa.string())
    table = pa.table(cols) if records else pa.table({c: pa.array([], pa.string()) for c in COLUMNS})
    table = table.append_column("_source", _constant("<table>", table.num_rows))
    table = table.append_column("_line", pa.array(np.arange(1, table.num_rows + 1)))
    return _convert(table, row_word="row")


def check_annotations(frame: pd.DataFrame, source: str = "<table>") -> pd.DataFrame:
    """Check an in-memory annotation table and return it normalised.

    The same checks as :func:`read_annotations`; rows are reported by their position
    (``row 1`` is the first row) unless the table carries ``_source``/``_line``.
    """
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise AnnotationError(f"{source}: missing column(s) {', '.join(missing)}")
    cols = {}
    for c in frame.columns:
        if c in PROVENANCE_COLUMNS:
            continue
        s = frame[c]
        if c == "date" and pd.api.types.is_datetime64_any_dtype(s):
            s = iso_dates(s)  # zero-padded for any year (strftime gives "1-01-01")
        elif c == "nodal" and pd.api.types.is_bool_dtype(s):
            s = s.map({True: "true", False: "false"})
        elif (c in _SIZE_COLUMNS or c == "mean_hu") and pd.api.types.is_numeric_dtype(s):
            s = s.map(_format_size)
        cols[str(c)] = pa.array(
            [None if not _present(v) else str(v) for v in s.tolist()], type=pa.string()
        )
    table = pa.table(cols)
    if "_source" in frame.columns and "_line" in frame.columns:
        src = pa.array(frame["_source"].astype(str).tolist(), type=pa.string())
        line = pa.array(frame["_line"].astype("int64").to_numpy())
        src = src.dictionary_encode()
    else:
        src = _constant(source, len(frame))
        line = pa.array(np.arange(1, len(frame) + 1, dtype=np.int64))
    table = table.append_column("_source", src).append_column("_line", line)
    return _convert(table, row_word="line" if "_line" in frame.columns else "row")


def _constant(text: str, n: int) -> pa.DictionaryArray:
    """A column holding one text n times, stored once."""
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int32)), pa.array([text], pa.string())
    )


def _header(path: Path, data) -> tuple[list[str], int]:
    """The column names of a CSV file and the offset of its first data row.

    Raises
    ------
    AnnotationError
        On an empty, non-UTF-8 or incomplete header line, or a column named twice.
    """
    start = 3 if data[:3] == b"\xef\xbb\xbf" else 0  # UTF-8 byte order mark (Excel)
    # The header ends at the first line break: LF, CRLF or a lone CR (old Mac files).
    # The CR is looked for before the first LF only: a search of a whole (memory-mapped)
    # cohort file would read every page of it (gigabytes of RSS, seconds).
    lf = data.find(b"\n", start)
    cr = data.find(b"\r", start, lf if lf >= 0 else len(data))
    end_of_header = min(i for i in (lf, cr, len(data)) if i >= 0)
    try:
        header_line = data[start:end_of_header].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: line 1: not UTF-8 text") from exc
    if not header_line.strip():
        raise AnnotationError(f"{path}: empty file or empty header line")
    try:
        with _csv_field_limit():
            header = next(csv.reader([header_line]))
    except csv.Error as exc:
        raise AnnotationError(f"{path}: line 1: not a CSV header ({exc})") from None
    header = [h.strip() for h in header]
    _check_header(path, header)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise AnnotationError(
            f"{path}: line 1: missing column(s) {', '.join(missing)} "
            f"(required: {', '.join(COLUMNS)})"
        )
    if end_of_header >= len(data):
        return header, len(data)
    return header, end_of_header + (2 if data[end_of_header : end_of_header + 2] == b"\r\n" else 1)


def _csv_options(header: list[str], include: list[str] | None = None) -> dict:
    """pyarrow options that parse data rows (no header) into dictionary-encoded text."""
    names = include or header
    return {
        "read_options": pacsv.ReadOptions(column_names=header),
        "convert_options": pacsv.ConvertOptions(
            # Dictionary-encoded while parsing: checks then run per distinct value.
            column_types={h: pa.dictionary(pa.int32(), pa.string()) for h in names},
            include_columns=include,
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    }


def read_csv_rows(buf, options: dict, size: int) -> pa.Table:
    """Parse CSV data rows with pyarrow (``options`` from :func:`_csv_options`).

    A row longer than pyarrow's parsing block (a cell of megabytes: valid CSV) is
    read with larger blocks, up to the size of the data (``size`` bytes) and at most
    :data:`MAX_ROW_BYTES`.
    """
    block = 1 << 20  # pyarrow's default
    while True:
        read = options["read_options"]
        read = pacsv.ReadOptions(column_names=read.column_names, block_size=block)
        try:
            return pacsv.read_csv(pa.BufferReader(buf), **{**options, "read_options": read})
        except pa.ArrowInvalid as exc:
            limit = min(size + 1, MAX_ROW_BYTES)
            if "straddl" in str(exc) and block < limit:
                block = min(block * 16, limit)  # one row is longer than a block
                continue
            raise


#: Any byte but whitespace (a data row after the header).
_NOT_BLANK = re.compile(rb"\S")
#: A row (line) longer than this is refused: no annotation row comes near it, and a
#: 300 MB line took 4.5 GB and 12 s to be refused as "expected 21 fields, found 1".
MAX_ROW_BYTES = 16 << 20
#: A line of more than :data:`MAX_ROW_BYTES` (anchored at line starts: linear time).
_LONG_ROW = re.compile(rb"^[^\n]{%d}" % MAX_ROW_BYTES, re.MULTILINE)
_NEWLINE = re.compile(rb"\n")


def empty_reading_message(path: str | os.PathLike, where: str = "no rows after the header") -> str:
    """Why a file without any row is refused (by :func:`read_annotations` and by
    ``batch`` alike): it records nothing, and a cohort's result must not pass over it."""
    return f"{path}: {where}: an empty reading (nothing was recorded)"


def refuse_blank(path: str | os.PathLike, data, start: int) -> None:
    """Raise when ``data`` holds nothing but blanks from ``start`` (after the header):
    searched in place, so a large file is neither copied nor scanned line by line."""
    if _NOT_BLANK.search(data, start) is None:
        raise AnnotationError(empty_reading_message(path))


def _read_one(path: Path) -> pa.Table:
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            # Memory-mapped: a cohort file is parsed in place, never copied into Python.
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    header, start = _header(path, data)
    # pyarrow's "Empty CSV file" was reported as "not a readable CSV file"
    refuse_blank(path, data, start)
    try:
        table = read_csv_rows(pa.py_buffer(data)[start:], _csv_options(header), len(data))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        long_row = _LONG_ROW.search(data, start)
        if long_row is not None:  # found in place: the file is not copied
            line = 2 + sum(1 for _ in _NEWLINE.finditer(data, start, long_row.start()))
            raise AnnotationError(
                f"{path}: line {line}: longer than {MAX_ROW_BYTES >> 20} MB: not an annotation row"
            ) from None
        _raise_parse_error(path, bytes(data[start:]), len(header), first_line=2)
        raise  # _raise_parse_error always raises; keeps type checkers content
    lines = _line_numbers(data, start, table.num_rows)
    if lines is None:
        lines = np.arange(2, table.num_rows + 2, dtype=np.int64)
    table = table.rename_columns(header)
    table = table.append_column("_source", _constant(str(path), table.num_rows))
    return table.append_column("_line", pa.array(lines))


def _check_header(path: Path, header: list[str]) -> None:
    """Column names: none empty, none twice, none of the reserved provenance names.

    Linear in the number of columns (a header of 80,000 names is checked at once).
    """
    counts = Counter(header)
    blank = [i + 1 for i, h in enumerate(header) if not h]
    if blank:
        where = ", ".join(map(str, blank[:5])) + (" …" if len(blank) > 5 else "")
        raise AnnotationError(f"{path}: line 1: empty column name (column {where})")
    dupes = sorted(h for h, n in counts.items() if n > 1)
    if dupes:
        shown = ", ".join(dupes[:10]) + (f" and {len(dupes) - 10} more" if len(dupes) > 10 else "")
        raise AnnotationError(f"{path}: line 1: column(s) named twice: {shown}")
    reserved = [h for h in PROVENANCE_COLUMNS if h in counts]
    if reserved:
        raise AnnotationError(
            f"{path}: line 1: column name(s) {', '.join(reserved)} are reserved "
            "(recist-tool adds them to name the file and line of each row); rename the column"
        )


@contextlib.contextmanager
def _csv_field_limit():
    """Let the csv module read fields of any size (its default stops at 128 KiB)."""
    old = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _line_numbers(data, start: int, n_rows: int) -> np.ndarray | None:
    """Editor line numbers of the data rows (starting at ``start``), or None when 2..n+1.

    One vectorised pass (:mod:`recist_tool._csvscan`) finds the records, the blank
    lines pyarrow skips and the quoted fields that span lines; only when its count
    disagrees with pyarrow's (a stray quote inside an unquoted field) do we pay for
    counting lines with the csv module.
    """
    from recist_tool._csvscan import record_lines

    lines = record_lines(data, start, len(data), first_line=2)
    if len(lines) == n_rows:
        return lines
    reader = csv.reader(io.StringIO(bytes(data[start:]).decode("utf-8"), newline=""))
    out = []
    with _csv_field_limit():
        first = reader.line_num + 2
        for row in reader:
            if row and any(cell != "" for cell in row):
                out.append(first)
            first = reader.line_num + 2
    arr = np.asarray(out, dtype=np.int64)
    return arr if len(arr) == n_rows else None


def _raise_parse_error(path: Path, data: bytes, n_cols: int, first_line: int = 1) -> None:
    """Name the line of ``data`` (data rows; the first is ``first_line``) pyarrow failed on."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + first_line
        raise AnnotationError(f"{path}: line {line}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    start = first_line
    try:
        with _csv_field_limit():
            for row in reader:
                if row and len(row) != n_cols:
                    raise AnnotationError(
                        f"{path}: line {start}: expected {n_cols} fields as in the header, "
                        f"found {len(row)}"
                    )
                start = reader.line_num + first_line
    except csv.Error as exc:
        raise AnnotationError(f"{path}: line {start}: not valid CSV ({exc})") from None
    raise AnnotationError(f"{path}: not a readable CSV file")


def check_table(table: pa.Table, row_word: str = "line", keep_going: bool = False) -> pd.DataFrame:
    """Check a raw annotation table and build the typed DataFrame.

    ``table`` holds the annotation columns as (dictionary-encoded) text plus the
    provenance columns ``_source`` and ``_line``, as a CSV reader produces them; this
    is the check :func:`read_annotations` runs. Problems are reported as
    ``<_source>: <row_word> <_line>: ...``. With ``keep_going``, as in
    :func:`read_annotations`: the patients with a bad row are left out and listed in
    ``frame.attrs["input_problems"]``.
    """
    if not keep_going:
        return _convert(table, row_word)
    problems: list[InputProblem] = []
    frame = _convert_keep_going(table, problems, row_word)
    frame.attrs["input_problems"] = problems
    return frame


def _convert(table: pa.Table, row_word: str = "line") -> pd.DataFrame:
    """Check every row and build the typed DataFrame, in one pass.

    Work is done on dictionary-encoded columns, so it scales with the number of
    distinct values rather than rows; row masks are needed only for the report.
    """
    problems: list[tuple[str, int, str]] = []  # (source, line, text)
    every: list[tuple[int, str, int, str, str, str]] = []  # all problems, for keep-going
    out: dict[str, Any] = {}
    n = table.num_rows

    hidden = 0  # problems beyond those kept for the message

    def report(mask: np.ndarray, column: str, what: str) -> None:
        nonlocal hidden
        if not mask.any():
            return
        rows = np.flatnonzero(mask)
        hidden += max(len(rows) - _MAX_REPORTED, 0)
        if len(rows) > _MAX_REPORTED:  # every row, for keep-going (kept compact)
            idx_all = pa.array(rows[:_MAX_KEPT])
            for r, s_, ln, v in zip(
                rows[:_MAX_KEPT].tolist(),
                table.column("_source").take(idx_all).to_pylist(),
                table.column("_line").take(idx_all).to_pylist(),
                table.column(column).take(idx_all).to_pylist(),
                strict=True,
            ):
                every.append((r, s_, ln, column, "" if v is None else str(v), what))
        idx = pa.array(rows[:_MAX_REPORTED])
        src = table.column("_source").take(idx).to_pylist()
        line = table.column("_line").take(idx).to_pylist()
        vals = table.column(column).take(idx).to_pylist()
        for r, s, ln, v in zip(rows[:_MAX_REPORTED].tolist(), src, line, vals, strict=True):
            shown = "empty" if v is None or not str(v).strip() else repr(v)
            problems.append((s, ln, f"column {column}: {shown}: {what}"))
            if len(rows) <= _MAX_REPORTED:
                every.append((r, s, ln, column, "" if v is None else str(v), what))

    def encoded(name: str, normalise=str.strip) -> tuple[np.ndarray, list]:
        """Row codes (-1 = empty) and the normalised distinct values."""
        col = table.column(name)
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        if not pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_encode()
        values = [normalise(v) for v in arr.dictionary.to_pylist()]
        idx = arr.indices
        codes = (idx.fill_null(-1) if idx.null_count else idx).to_numpy(zero_copy_only=False)
        blank = [i for i, v in enumerate(values) if v == ""]
        if blank:  # whitespace-only cells are empty too
            codes = np.where(np.isin(codes, blank), -1, codes).astype(codes.dtype)
        return codes, values

    def rows_with(codes: np.ndarray, bad_values: np.ndarray) -> np.ndarray:
        return np.append(bad_values, False)[codes] if bad_values.any() else np.zeros(n, bool)

    def categorical(codes: np.ndarray, values: list) -> pd.Categorical:
        if len(set(values)) == len(values):
            return pd.Categorical.from_codes(codes, categories=pd.Index(values, dtype=object))
        # Distinct normalised values may repeat (" P1" and "P1"): merge them.
        uniq, inverse = np.unique(np.asarray(values, dtype=object), return_inverse=True)
        mapped = np.where(codes >= 0, np.append(inverse, -1)[codes], -1)
        return pd.Categorical.from_codes(mapped, categories=uniq.astype(str))

    for name in ("patient_id", "timepoint", "lesion_id", "organ"):
        codes, values = encoded(name)
        if name != "organ":
            report(codes < 0, name, "must not be empty")
        out[name] = categorical(codes, values if values else [""])

    codes, values = encoded("kind", lambda v: v.strip().lower())
    report(codes < 0, "kind", "must not be empty")
    bad = np.array([v not in KINDS for v in values], dtype=bool)
    report(rows_with(codes, bad), "kind", f"unknown kind (expected one of {', '.join(KINDS)})")
    kind_codes, kind_values = codes, values
    out["kind"] = categorical(codes, values)

    codes, values = encoded("status", lambda v: v.strip().lower())
    report(codes < 0, "status", "must not be empty")
    for ki, k in enumerate(kind_values):
        if k not in STATUSES:
            continue
        bad = np.array([v not in STATUSES[k] for v in values], dtype=bool)
        report(
            rows_with(codes, bad) & (kind_codes == ki),
            "status",
            f"unknown status for a {k} lesion (expected one of {', '.join(STATUSES[k])})",
        )
    out["status"] = categorical(codes, values)

    codes, values = encoded("nodal", lambda v: v.strip().lower())
    report(codes < 0, "nodal", "must not be empty")
    bad = np.array([v not in _TRUE + _FALSE for v in values], dtype=bool)
    report(rows_with(codes, bad), "nodal", "expected true or false")
    truth = np.array([v in _TRUE for v in values] + [False], dtype=bool)
    out["nodal"] = truth[codes]

    codes, values = encoded("date")
    report(codes < 0, "date", "must not be empty")
    parsed = [parse_date(v) for v in values]
    bad = np.array([d is None for d in parsed], dtype=bool)
    report(rows_with(codes, bad), "date", "not a date in the form YYYY-MM-DD")
    days = np.array([d if d is not None else 0 for d in parsed] + [0], dtype="datetime64[D]")
    out["date"] = pd.Series(days.astype("datetime64[s]")[codes])  # convert the few, then gather

    if "treatment_date" in table.column_names:  # optional; checked, carried as text
        codes, values = encoded("treatment_date")
        bad = np.array([parse_date(v) is None for v in values], dtype=bool)
        report(rows_with(codes, bad), "treatment_date", "not a date in the form YYYY-MM-DD")

    for name in _SIZE_COLUMNS:
        if name not in table.column_names:
            continue
        codes, values = encoded(name)
        limit = MAX_SIZE_MM if name in _MM_COLUMNS else math.inf
        parsed_sizes = [_parse_size(v, limit) for v in values]
        for what in (
            "not a number",
            "must not be negative",
            "write sizes as plain decimals in mm",
            _TOO_LARGE,
        ):
            bad = np.array([isinstance(p, str) and p == what for p in parsed_sizes], dtype=bool)
            report(rows_with(codes, bad), name, what)
        mm = np.array([p if isinstance(p, float) else np.nan for p in parsed_sizes] + [np.nan])
        out[name] = mm[codes]

    if "method" in table.column_names:
        codes, values = encoded("method", lambda v: v.strip().lower())
        bad = np.array([v not in METHODS for v in values], dtype=bool)
        report(
            rows_with(codes, bad),
            "method",
            f"unknown method (expected one of {', '.join(METHODS)})",
        )
        out["method"] = categorical(codes, values if values else [""])
    if "mean_hu" in table.column_names:
        codes, values = encoded("mean_hu")
        parsed_hu = [_parse_signed(v) for v in values]
        bad = np.array([p is _BAD for p in parsed_hu], dtype=bool)
        report(
            rows_with(codes, bad),
            "mean_hu",
            "not a number of HU (write a plain decimal between -100000 and 100000, e.g. -12.5)",
        )
        hu = np.array([p if isinstance(p, float) else np.nan for p in parsed_hu] + [np.nan])
        out["mean_hu"] = hu[codes]

    if problems:
        problems.sort(key=lambda p: (p[0], p[1]))
        more = len(problems) - _MAX_REPORTED + hidden
        lines = [f"{s}: {row_word} {ln}: {text}" for s, ln, text in problems[:_MAX_REPORTED]]
        if more > 0:
            lines.append(f"... and {more} more problem(s)")
        err = AnnotationError(
            lines[0] if len(lines) == 1 else "bad annotation input:\n  " + "\n  ".join(lines)
        )
        err.problems = every
        raise err

    for name in table.column_names:
        if name in out:
            continue
        col = table.column(name)
        if name == "_line":
            out[name] = col.to_numpy()
        elif name == "_source" or pa.types.is_dictionary(col.type):
            out[name] = col.to_pandas()
        else:
            out[name] = pd.Series(col, dtype=pd.ArrowDtype(pa.string()))
    ordered = [c for c in table.column_names if c in out]
    frame = pd.DataFrame({c: out[c] for c in ordered}, copy=False)
    frame.attrs[CHECKED] = id(frame)
    return frame


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SIZE_RE = re.compile(_DECIMAL_RE)


def parse_date(text: str) -> np.datetime64 | None:
    """A ``YYYY-MM-DD`` calendar date as ``datetime64[D]``; None for anything else."""
    if not _DATE_RE.match(text):
        return None
    try:
        return np.datetime64(dt.date.fromisoformat(text), "D")
    except ValueError:
        return None


def to_dates(values: Any) -> pd.Series:
    """Dates of any year 0001–9999 as ``datetime64[s]`` (NaT where empty or not a date).

    Text must be ``YYYY-MM-DD`` (:func:`parse_date`); datetimes are taken as they are.
    pandas' default nanosecond dates stop at 1677 and 2262: use this for every date
    column read from a file.
    """
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.astype("datetime64[s]")
    codes, uniques = pd.factorize(s.astype(object).where(s.notna(), None), use_na_sentinel=True)
    days = [parse_date(_date_text(u)) for u in uniques]
    lut = np.array([d if d is not None else np.datetime64("NaT") for d in days] + ["NaT"],
                   dtype="datetime64[D]").astype("datetime64[s]")  # fmt: skip
    return pd.Series(lut[codes], index=s.index)


def iso_dates(values: Any) -> pd.Series:
    """``YYYY-MM-DD`` text of dates (any year; "" for NaT), as the files write them."""
    d = to_dates(values)
    arr = d.to_numpy().astype("datetime64[D]")
    text = np.datetime_as_string(arr, unit="D").astype(object)
    text[np.isnat(arr)] = ""
    return pd.Series(text, index=d.index)


def _parse_size(text: str, limit: float = MAX_SIZE_MM) -> float | str | None:
    """A float, None when empty, or the text of the problem (above ``limit``: too large)."""
    if text == "":
        return None
    if _SIZE_RE.match(text):
        value = float(text)
        if not math.isfinite(value):
            return "not a number"
        return value if value <= limit else _TOO_LARGE
    if text.startswith("-"):
        return "must not be negative"
    try:
        value = float(text)
    except ValueError:
        return "not a number"
    return "write sizes as plain decimals in mm" if math.isfinite(value) else "not a number"


_SIGNED_RE = re.compile(r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
_BAD = object()


#: The largest magnitude of a ``mean_hu`` value (CT numbers are stored in 16 bits,
#: ±32768 on the extended scale; anything far beyond is not a CT number).
MAX_ABS_HU = 100_000.0


def _parse_signed(text: str) -> float | object | None:
    """A signed plain decimal (``mean_hu``): float, None when empty, else ``_BAD``
    (also when its magnitude exceeds :data:`MAX_ABS_HU`)."""
    if text == "":
        return None
    if not _SIGNED_RE.match(text):
        return _BAD
    value = float(text)
    return value if abs(value) <= MAX_ABS_HU else _BAD


# --------------------------------------------------------------------------- writing


def write_annotations(data: pd.DataFrame | Iterable[Measurement], path: str | os.PathLike) -> Path:
    """Write an annotation CSV atomically (temporary file, then rename).

    Parameters
    ----------
    data : DataFrame or iterable of Measurement
        The rows; the required columns come first, extra columns after them in their
        order; provenance columns are dropped.
    path : path-like
        Destination; its folder is created when missing.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    frame = data if isinstance(data, pd.DataFrame) else to_frame(data)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise AnnotationError(f"cannot write {path}: missing column(s) {', '.join(missing)}")
    extra = [c for c in frame.columns if c not in COLUMNS and c not in PROVENANCE_COLUMNS]
    out = pd.DataFrame(index=frame.index)
    for c in (*COLUMNS, *extra):
        s = frame[c]
        if c == "date":
            out[c] = s.map(_date_text)
        elif c == "nodal":
            out[c] = s.map(lambda v: "true" if _truthy(v) else "false")
        elif c in _SIZE_COLUMNS or c == "mean_hu":
            out[c] = s.map(_format_size)
        else:
            out[c] = s.map(lambda v: "" if not _present(v) else str(v))
    path = Path(path)
    with atomic_write(path, "w") as fh:
        out.to_csv(fh, index=False, lineterminator="\n")
    return path


def _format_size(v: Any) -> str:
    """Shortest text that reads back as the same float (no ``1e-05`` forms)."""
    if not _present(v):
        return ""
    if isinstance(v, str):
        return v.strip()
    f = float(v)
    text = repr(f)
    if "e" in text or "E" in text:
        text = f"{f:.6f}".rstrip("0").rstrip(".")
    return text[:-2] if text.endswith(".0") else text


def _date_text(v: Any) -> str:
    if not _present(v):
        return ""
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, dt.date):
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d}"
    return str(np.datetime64(v, "D"))  # numpy: any year, zero-padded


def _present(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return False
    if isinstance(v, float) and math.isnan(v):
        return False
    return not (isinstance(v, str) and v.strip() == "")


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in _TRUE
    return bool(v) if _present(v) else False
