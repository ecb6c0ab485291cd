"""Cut a cohort's annotation files into chunks of whole patients, in bounded memory.

``recist-tool batch`` evaluates a cohort chunk by chunk so that its memory depends on
the chunk, not on the cohort. Two passes over the inputs:

1. :func:`index_cohort` reads only where each patient's rows are. For a CSV file, one
   vectorised pass (:mod:`recist_tool._csvscan`) finds every record's byte offset and
   line number while pyarrow parses the ``patient_id`` column alone; for Parquet, the
   ``patient_id`` column of each row group. Consecutive rows of one patient form a
   *run*: (file, byte offset or row, number of rows, first line). Patients are ranked
   by their trimmed identifier in code point order (the order of the result tables)
   and cut into chunks of consecutive ranks.
2. :func:`read_chunk` reads a chunk's runs (byte ranges of a CSV file, rows of a
   Parquet row group) into one Arrow table: exactly the rows of the whole-cohort table
   that belong to the chunk's patients, in file order, with their file and line.

Input order does not matter: the index knows where every row of a patient is, in
whatever order the files hold them, so a patient never straddles chunks and the result
tables, written chunk after chunk, are byte for byte those of the whole cohort.
Sorted (or grouped) input only makes the reads of a chunk more contiguous.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import urllib.parse
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recist_tool import annotations as ann
from recist_tool._csvscan import blocks
from recist_tool.errors import AnnotationError

#: Default patients per chunk.
CHUNK_PATIENTS = 20_000
#: A chunk is cut earlier when it would hold more rows than this (memory bound).
CHUNK_ROWS = 1_000_000
#: Bytes of CSV scanned per block in the index pass.
INDEX_BLOCK = 32 << 20
#: Longest CSV record accepted (the same as a single annotation file's).
MAX_RECORD = ann.MAX_ROW_BYTES
_PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
_HIVE = re.compile(r"^([^=]+)=(.*)$")


@dataclass
class SourceFile:
    """One input file: its kind, columns and (Parquet) partition keys."""

    path: str
    kind: str  # "csv" or "parquet"
    header: list[str]
    data_start: int = 0  # CSV: offset of the first data row
    partition: dict[str, str] = field(default_factory=dict)
    string_columns: list[str] = field(default_factory=list)  # Parquet: read as dictionaries


@dataclass
class Chunk:
    """The rows of a range of patients: what :func:`read_chunk` reads (picklable).

    ``parts`` holds, per file in input order, the file's index in ``files`` and the
    runs (``pos``: CSV byte offset or Parquet row in its row group; ``length``: CSV
    bytes; ``rows``; ``line``: first line (CSV) or row number (Parquet); ``group``:
    Parquet row group).
    """

    number: int
    n_patients: int
    n_rows: int
    files: list[SourceFile]
    columns: list[str]
    parts: list[tuple[int, dict[str, np.ndarray]]]


@dataclass
class CohortIndex:
    """Where every patient's rows are (see the module notes)."""

    files: list[SourceFile]
    columns: list[str]
    run_file: np.ndarray
    run_pos: np.ndarray
    run_length: np.ndarray
    run_rows: np.ndarray
    run_line: np.ndarray
    run_group: np.ndarray
    run_rank: np.ndarray
    n_patients: int
    #: Files left out under ``keep_going`` (:class:`recist_tool.annotations.InputProblem`).
    problems: list = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return int(self.run_rows.sum())

    @property
    def n_runs(self) -> int:
        return len(self.run_rank)

    def plan(self, chunk_patients: int = CHUNK_PATIENTS, chunk_rows: int = CHUNK_ROWS) -> Plan:
        """Cut the cohort into chunks of at most ``chunk_patients`` consecutive patients.

        A chunk is closed earlier when it would exceed ``chunk_rows`` rows (a patient
        with more rows than that gets a chunk of their own). An empty cohort gives one
        empty chunk, so that the result tables still get their headers.
        """
        if chunk_patients < 1:
            raise ValueError("chunk_patients must be at least 1")
        if self.n_patients == 0:
            return Plan(self, np.zeros(0, np.int64), np.zeros(2, np.int64), np.zeros(2, np.int64))
        per_patient = np.bincount(
            self.run_rank, weights=self.run_rows, minlength=self.n_patients
        ).astype(np.int64)
        cum = np.r_[0, np.cumsum(per_patient)]  # rows before each patient
        bounds = [0]
        while bounds[-1] < self.n_patients:  # one step per chunk, not per patient
            lo = bounds[-1]
            by_rows = int(np.searchsorted(cum, cum[lo] + max(chunk_rows, 1), side="right")) - 1
            bounds.append(min(lo + chunk_patients, max(by_rows, lo + 1), self.n_patients))
        pat_bounds = np.asarray(bounds, dtype=np.int64)
        n_chunks = len(pat_bounds) - 1
        chunk_of = np.repeat(np.arange(n_chunks, dtype=np.int32), np.diff(pat_bounds))
        run_chunk = chunk_of[self.run_rank]
        order = np.argsort(run_chunk, kind="stable")  # file order within a chunk
        run_bounds = np.searchsorted(run_chunk[order], np.arange(n_chunks + 1))
        row_bounds = cum[pat_bounds]
        return Plan(self, order, run_bounds, pat_bounds, row_bounds)


@dataclass
class Plan:
    """Chunks of consecutive patients (see :meth:`CohortIndex.plan`)."""

    index: CohortIndex
    order: np.ndarray  # runs grouped by chunk, file order within
    run_bounds: np.ndarray
    pat_bounds: np.ndarray
    row_bounds: np.ndarray = field(default_factory=lambda: np.zeros(2, np.int64))

    def __len__(self) -> int:
        return len(self.run_bounds) - 1

    def chunk(self, k: int) -> Chunk:
        """The runs of chunk ``k`` (built on demand: a plan of 10 M patients stays small)."""
        ix = self.index
        sel = self.order[self.run_bounds[k] : self.run_bounds[k + 1]]
        files = ix.run_file[sel]
        parts = []
        for f in np.unique(files):  # input order
            s = sel[files == f]
            cols = {
                "pos": ix.run_pos[s],
                "length": ix.run_length[s],
                "rows": ix.run_rows[s],
                "line": ix.run_line[s],
                "group": ix.run_group[s],
            }
            parts.append((int(f), cols))
        return Chunk(
            k,
            int(self.pat_bounds[k + 1] - self.pat_bounds[k]),
            int(self.row_bounds[k + 1] - self.row_bounds[k]),
            ix.files,
            ix.columns,
            parts,
        )

    def __iter__(self):
        return (self.chunk(k) for k in range(len(self)))


# --------------------------------------------------------------------------- inputs


def cohort_files(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[SourceFile]:
    """Expand files and folders into the annotation files they hold.

    Folders are searched recursively for ``*.csv`` and ``*.parquet``; in a folder
    Parquet files may sit in Hive-style partition folders (``site=A/part-0.parquet``),
    whose keys become columns. Files keep the order given; a folder's files are
    sorted by path.

    Raises
    ------
    AnnotationError
        When an input does not exist or a folder holds no annotation file.
    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    out: list[SourceFile] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = ann.folder_files(p, (".csv", *_PARQUET_SUFFIXES), skip=(".", "_"))
            if not found:
                raise AnnotationError(f"{p}: folder holds no .csv or .parquet annotation file")
            for q in found:
                keys = {}
                for part in q.relative_to(p).parts[:-1]:
                    m = _HIVE.match(part)
                    if m:
                        keys[urllib.parse.unquote(m[1])] = urllib.parse.unquote(m[2])
                out.append(_source(q, keys))
        elif p.is_file():
            out.append(_source(p, {}))
        else:
            raise AnnotationError(f"{p}: no such file or folder")
    if not out:
        raise AnnotationError("no annotation file given")
    return out


def _source(path: Path, keys: dict[str, str]) -> SourceFile:
    if path.suffix.lower() in _PARQUET_SUFFIXES:
        return SourceFile(str(path), "parquet", [], partition=keys)
    return SourceFile(str(path), "csv", [])


def _map(path: str) -> mmap.mmap | bytes:
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read file ({exc.strerror or exc})") from exc


# --------------------------------------------------------------------------- pass 1


#: Index column types: 8 bytes only where a value can pass 2**31 (offsets, lines).
_RUN_DTYPES = {
    "file": np.int32,
    "pos": np.int64,
    "length": np.int32,
    "rows": np.int32,
    "line": np.int64,
    "group": np.int32,
}


class _Runs:
    """Runs collected while indexing, as lists of arrays."""

    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {
            k: [] for k in ("file", "pos", "length", "rows", "line", "group")
        }
        self.ids: list[pa.Array] = []

    def add(self, ids: pa.Array, **cols: np.ndarray) -> None:
        self.ids.append(ids)
        n = len(ids)
        for k, v in cols.items():
            self.cols[k].append(np.broadcast_to(np.asarray(v, dtype=_RUN_DTYPES[k]), (n,)))

    def array(self, name: str) -> np.ndarray:
        parts = self.cols[name]
        dtype = _RUN_DTYPES[name]
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def _trimmed(dictionary: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Map a dictionary's values to their trimmed distinct values (the engine's ids).

    The last code is that of "" (for null ids). The distinct values come in no
    particular order: codes only tell runs apart; patients are ranked on the values.
    """
    values = [("" if v is None else str(v).strip()) for v in dictionary.to_pylist()]
    enc = pa.array([*values, ""], type=pa.string()).dictionary_encode()
    return enc.indices.to_numpy().astype(np.int64), enc.dictionary


def _codes(ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Per-row codes into trimmed distinct ids (empty and null ids share the "" code)."""
    arr = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    if not pa.types.is_dictionary(arr.type):
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = _as_text(arr)
        arr = arr.dictionary_encode()
    lut, values = _trimmed(arr.dictionary)
    idx = arr.indices.fill_null(len(lut) - 1).to_numpy(zero_copy_only=False).astype(np.int64)
    return lut[idx], values


def _runs_of(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of runs of equal codes."""
    if not len(codes):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    return starts, np.diff(np.r_[starts, len(codes)])


def _index_csv(src: SourceFile, file_no: int, runs: _Runs) -> None:
    path = Path(src.path)
    data = _map(src.path)
    try:
        header, start = ann._header(path, data)
        src.header, src.data_start = header, start
        # before the scan: 300 MB of empty lines were scanned line by line (2.3 GB,
        # 14 s) to find no row
        ann.refuse_blank(path, data, start)
        line = 2
        opts = ann._csv_options(header, include=["patient_id"])
        try:
            scanned = blocks(data, start, len(data), INDEX_BLOCK, MAX_RECORD)
            for pos, rec in scanned:
                if not len(rec.starts):
                    line += rec.breaks
                    continue
                block = pa.py_buffer(data)[pos : pos + rec.consumed]
                try:
                    # A UTF-8 check of the whole block (no copy), then the ids alone.
                    pa.Array.from_buffers(
                        pa.string(), 1, [None, _offsets(rec.consumed), block]
                    ).validate(full=True)
                    table = ann.read_csv_rows(block, opts, rec.consumed)
                except (pa.ArrowInvalid, UnicodeDecodeError):
                    ann._raise_parse_error(path, bytes(block), len(header), first_line=line)
                    raise
                if table.num_rows != len(rec.starts):
                    raise AnnotationError(
                        f"{path}: lines {line}-{line + rec.breaks}: could not split the rows "
                        "(a double quote inside an unquoted field?)"
                    )
                codes, values = _codes(table.column(0))
                lines = rec.lines + line
                # A run: consecutive rows of one patient, each on the line after the last.
                brk = np.r_[True, (codes[1:] != codes[:-1]) | (lines[1:] != lines[:-1] + 1)]
                first = np.flatnonzero(brk)
                last = np.r_[first[1:], len(codes)] - 1
                runs.add(
                    values.take(pa.array(codes[first])),
                    file=file_no,
                    pos=rec.starts[first] + pos,
                    length=rec.ends[last] - rec.starts[first],
                    rows=last - first + 1,
                    line=lines[first],
                    group=-1,
                )
                line += rec.breaks
                _drop_pages(data, pos, rec.consumed)
        except ValueError as exc:
            if not exc.args or not isinstance(exc.args[0], int):
                raise
            raise AnnotationError(
                f"{path}: a record from byte {exc.args[0]} is longer than "
                f"{MAX_RECORD >> 20} MB (not a line-based CSV file?)"
            ) from None
    finally:
        _unmap(data)


def _drop_pages(data, pos: int, n: int) -> None:
    """Let the kernel take back the pages of a mapped range we are done with.

    File pages read through a mapping count in the process's resident memory until
    unmapped; dropping them keeps the index pass of a 20 GB file at its block size.
    """
    if isinstance(data, mmap.mmap) and n > 0:
        lo = pos - pos % mmap.PAGESIZE
        with contextlib.suppress(OSError, ValueError):
            data.madvise(mmap.MADV_DONTNEED, lo, pos + n - lo)


def _unmap(data) -> None:
    if isinstance(data, mmap.mmap):
        _drop_pages(data, 0, len(data))
        with contextlib.suppress(BufferError):  # arrays still viewing it: closed when freed
            data.close()


def _offsets(n: int) -> pa.Buffer:
    return pa.py_buffer(np.array([0, n], dtype=np.int32))


def _index_parquet(src: SourceFile, file_no: int, runs: _Runs) -> None:
    import pyarrow.parquet as pq

    path = Path(src.path)
    try:
        pf = pq.ParquetFile(src.path)
    except (OSError, pa.ArrowException) as exc:
        raise AnnotationError(f"{path}: not a readable Parquet file ({exc})") from None
    schema = pf.schema_arrow
    names = [n for n in schema.names if n not in src.partition]
    src.header = names + list(src.partition)
    ann._check_header(path, src.header)  # none twice, none reserved (linear)
    missing = [c for c in ann.COLUMNS if c not in src.header]
    if missing:
        raise AnnotationError(
            f"{path}: missing column(s) {', '.join(missing)} (required: {', '.join(ann.COLUMNS)})"
        )
    src.string_columns = [
        f.name
        for f in schema
        if f.name in names and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
    ]
    if pf.metadata.num_rows == 0:
        raise AnnotationError(ann.empty_reading_message(path, "no rows"))
    if "patient_id" in src.string_columns:  # decoded as Parquet stores it: a dictionary
        pf = pq.ParquetFile(src.path, read_dictionary=["patient_id"])
    row0 = 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if not n:
            continue
        if "patient_id" in src.partition:
            codes, values = _codes(pa.array([src.partition["patient_id"]] * 1))
            codes = np.zeros(n, np.int64) + codes[0]
        else:
            col = pf.read_row_group(g, columns=["patient_id"]).column(0)
            codes, values = _codes(col)
        first, lengths = _runs_of(codes)
        runs.add(
            values.take(pa.array(codes[first])),
            file=file_no,
            pos=first,
            length=0,
            rows=lengths,
            line=row0 + first + 1,
            group=g,
        )
        row0 += n


def index_file(src: SourceFile, file_no: int) -> tuple[SourceFile, dict[str, np.ndarray], pa.Array]:
    """Pass 1 over one file: its header, its runs and their patient ids.

    A unit of work that may run anywhere the file can be read (a Dask worker).
    """
    runs = _Runs()
    (_index_parquet if src.kind == "parquet" else _index_csv)(src, file_no, runs)
    cols = {k: runs.array(k) for k in runs.cols}
    ids = pa.chunked_array(runs.ids, type=pa.string()).combine_chunks()
    return src, cols, ids


def index_file_kept(
    src: SourceFile, file_no: int
) -> tuple[SourceFile, dict[str, np.ndarray], pa.Array, str | None]:
    """:func:`index_file` that gives back, instead of raising, why a file cannot be read
    (the file is then left out: no runs, no columns)."""
    try:
        return (*index_file(src, file_no), None)
    except AnnotationError as exc:
        src.header, src.data_start = [], 0
        empty = {k: np.zeros(0, dtype) for k, dtype in _RUN_DTYPES.items()}
        return src, empty, pa.array([], pa.string()), str(exc)


def index_cohort(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    mapper=None,
    keep_going: bool = False,
) -> CohortIndex:
    """Pass 1: where every patient's rows are in the annotation files (CSV or Parquet).

    Parameters
    ----------
    inputs : path or sequence of paths
        Files or folders (see :func:`cohort_files`).
    mapper : callable, optional
        ``mapper(function, files, numbers)`` -> results, like the builtin ``map`` (the
        default): how :func:`index_file` runs over the files (e.g. on a Dask cluster).
    keep_going : bool
        A file that cannot be read (bad header, a row with the wrong number of fields,
        text that is not UTF-8) is left out whole and named in ``index.problems``, as
        :func:`recist_tool.annotations.read_annotations` does; an error only when no
        file can be read.

    Raises
    ------
    AnnotationError
        For a missing file, a bad header, a row with the wrong number of fields, or
        text that is not UTF-8, naming the file and line.
    """
    files = cohort_files(inputs)
    if keep_going:
        results = list((mapper or map)(index_file_kept, files, range(len(files))))
        problems = [ann.InputProblem(r[0].path, None, "", "", r[3], "") for r in results if r[3]]
        if len(problems) == len(results):
            raise AnnotationError(
                "no annotation file could be read:\n  " + "\n  ".join(p.message for p in problems)
            )
    else:
        results = list((mapper or map)(index_file, files, range(len(files))))
        problems = []
    files = [r[0] for r in results]
    columns: list[str] = []
    for src in files:
        columns += [c for c in src.header if c not in columns]
    ids = pa.chunked_array([r[2] for r in results], type=pa.string()).combine_chunks()

    cols = {
        name: np.concatenate([r[1][name] for r in results]) if results else np.zeros(0, dtype)
        for name, dtype in _RUN_DTYPES.items()
    }
    del results
    if len(ids):
        order = pc.array_sort_indices(ids)  # stable: file order among equals
        ranked = ids.take(order)
        del ids
        new = np.r_[True, pc.not_equal(ranked[1:], ranked[:-1]).to_numpy(zero_copy_only=False)]
        del ranked
        rank = np.empty(len(order), dtype=np.int32 if len(order) < 2**31 else np.int64)
        rank[order.to_numpy()] = np.cumsum(new) - 1
        n_patients = int(new.sum())
        del order, new
    else:
        rank, n_patients = np.zeros(0, np.int32), 0
    return CohortIndex(
        files=files,
        columns=columns,
        run_file=cols["file"],
        run_pos=cols["pos"],
        run_length=cols["length"],
        run_rows=cols["rows"],
        run_line=cols["line"],
        run_group=cols["group"],
        run_rank=rank,
        n_patients=n_patients,
        problems=problems,
    )


# --------------------------------------------------------------------------- pass 2


def read_chunk(chunk: Chunk) -> pa.Table:
    """Pass 2: the raw rows of a chunk (text columns, ``_source``, ``_line``).

    Rows come in file order, files in input order: the whole-cohort table restricted
    to the chunk's patients. Every column of any input file is present (empty where a
    file lacks it). Check the result with :func:`recist_tool.annotations.check_table`.
    """
    parts = []
    for f, runs in chunk.parts:
        src = chunk.files[f]
        if src.kind == "csv":
            parts.append(_read_csv_runs(src, runs))
        else:
            parts.append(_read_parquet_runs(src, runs))
    if not parts:
        table = pa.table(
            {c: pa.array([], pa.dictionary(pa.int32(), pa.string())) for c in chunk.columns}
        )
        table = table.append_column("_source", ann._constant("", 0))
        return table.append_column("_line", pa.array([], pa.int64()))
    table = parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="permissive")
    for c in chunk.columns:
        if c not in table.column_names:
            table = table.append_column(
                c, pa.nulls(table.num_rows, pa.dictionary(pa.int32(), pa.string()))
            )
    return table.unify_dictionaries()


def _read_csv_runs(src: SourceFile, runs: dict[str, np.ndarray]) -> pa.Table:
    path = Path(src.path)
    pos, length, rows = runs["pos"], runs["length"], runs["rows"]
    data = _map(src.path)
    try:
        # Adjacent runs are read as one range.
        joined = np.r_[False, pos[1:] == pos[:-1] + length[:-1]]
        first = np.flatnonzero(~joined)
        ends = np.r_[first[1:], len(pos)] - 1
        lo, hi = pos[first], pos[ends] + length[ends]
        view = memoryview(data)
        try:
            buf = b"".join([view[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True)])
        finally:
            view.release()
    finally:
        _unmap(data)
    n = int(rows.sum())
    try:
        table = ann.read_csv_rows(buf, ann._csv_options(src.header), len(buf))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        table = None
    if table is None or table.num_rows != n:
        raise AnnotationError(f"{path}: the file changed while it was read; run again")
    lines = np.repeat(runs["line"] - np.cumsum(rows) + rows, rows) + np.arange(n)
    table = table.append_column("_source", ann._constant(src.path, n))
    return table.append_column("_line", pa.array(lines, pa.int64()))


#: Decoded Parquet row groups kept for the next chunks (bytes): a row group holding
#: several chunks' patients is decoded once, not once per chunk.
ROW_GROUP_CACHE = 384 << 20
_row_groups: OrderedDict[tuple, pa.Table] = OrderedDict()


def _row_group(src: SourceFile, group: int) -> pa.Table:
    """A row group's columns as dictionary-encoded text (cached, least recently used out)."""
    import pyarrow.parquet as pq

    key = (src.path, os.stat(src.path).st_mtime_ns, group)
    table = _row_groups.get(key)
    if table is not None:
        _row_groups.move_to_end(key)
        return table
    names = [c for c in src.header if c not in src.partition]
    raw = pq.ParquetFile(src.path, read_dictionary=src.string_columns).read_row_group(
        group, columns=names
    )
    table = pa.table({n: _as_dictionary_text(raw.column(n)) for n in names})
    _row_groups[key] = table
    while sum(t.nbytes for t in _row_groups.values()) > ROW_GROUP_CACHE and len(_row_groups) > 1:
        _row_groups.popitem(last=False)
    return table


def _read_parquet_runs(src: SourceFile, runs: dict[str, np.ndarray]) -> pa.Table:
    names = [c for c in src.header if c not in src.partition]
    pieces = []
    group, pos, rows, line = runs["group"], runs["pos"], runs["rows"], runs["line"]
    for g in np.unique(group):  # row group order = file order
        sel = group == g
        p, r = pos[sel], rows[sel]
        table = _row_group(src, int(g))
        if (p[1:] == p[:-1] + r[:-1]).all():  # one range of rows (sorted input): a view
            pieces.append(table.slice(int(p[0]), int(r.sum())))
        else:
            idx = np.repeat(p - np.cumsum(r) + r, r) + np.arange(int(r.sum()))
            pieces.append(table.take(pa.array(idx)))
    n = int(rows.sum())
    cols: dict[str, pa.ChunkedArray] = {
        name: pa.chunked_array([c for p in pieces for c in p.column(name).chunks]) for name in names
    }
    for key, value in src.partition.items():
        cols[key] = pa.chunked_array([ann._constant(value, n)])
    table = pa.table(cols)
    line_all = np.repeat(line - np.cumsum(rows) + rows, rows) + np.arange(n)
    table = table.append_column("_source", ann._constant(src.path, n))
    return table.append_column("_line", pa.array(line_all, pa.int64()))


def _as_text(arr: pa.Array) -> pa.Array:
    """A typed Parquet column as the text the annotation format would hold."""
    t = arr.type
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "true", "false")
    if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t):
        enc = arr.dictionary_encode()
        values = [ann._format_size(v) for v in enc.dictionary.to_pylist()]
        return pa.DictionaryArray.from_arrays(enc.indices, pa.array(values, pa.string())).cast(
            pa.string()
        )
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        enc = arr.dictionary_encode()
        values = [ann._date_text(v) if _midnight(v) else str(v) for v in enc.dictionary.to_pylist()]
        return pa.DictionaryArray.from_arrays(enc.indices, pa.array(values, pa.string())).cast(
            pa.string()
        )
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    try:
        return arr.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise AnnotationError(
            f"a Parquet column of type {t} cannot hold annotation values"
        ) from None


def _midnight(v) -> bool:
    import datetime as dt

    if isinstance(v, dt.datetime):
        return v.time() == dt.time(0) and v.tzinfo is None
    return True


def _as_dictionary_text(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A Parquet column as dictionary-encoded annotation text.

    Typed values (numbers, dates, booleans) are converted once per distinct value,
    never row by row: the rows keep their dictionary indices.
    """
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.dictionary(pa.int32(), pa.string()))
    if not pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_encode()
    if pa.types.is_string(arr.type.value_type):
        return arr.cast(pa.dictionary(pa.int32(), pa.string()))
    # the text of each distinct value, once; values that give the same text merged
    text = _as_text(arr.dictionary).dictionary_encode()
    indices = text.indices.take(arr.indices) if len(text) else arr.indices
    return pa.DictionaryArray.from_arrays(indices.cast(pa.int32()), text.dictionary)
