"""Result tables out: CSV or Parquet, written in pieces, published when the run succeeds.

Every table the tool writes from an evaluation goes through here, whether the whole
cohort is evaluated at once (:meth:`recist_tool.response.Evaluation.write`) or chunk by
chunk (``recist-tool batch``): the bytes of a table do not depend on how the cohort was
cut.

- CSV: RFC 4180, ``\\n`` line ends, dates ``YYYY-MM-DD``, empty cells for missing
  values, numbers as their shortest round-trip text (``27``, ``-46.3``). A text value is
  quoted only when it needs it (it holds a comma, a quote or a line break), so a value's
  text never depends on the other rows.
- Parquet: the same columns with their types (dates as ``date32``, counts as ``int64``,
  texts as strings), zstd-compressed, in row groups of :data:`ROW_GROUP_ROWS` rows
  whatever the pieces.

Files are written under temporary names in the output folder and renamed to their
final names only by :meth:`ResultWriter.commit`; a failed run leaves what was there.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from recist_tool._atomic import atomic_write

#: Output formats of the result tables.
FORMATS: tuple[str, ...] = ("csv", "parquet")
#: Rows per Parquet row group (fixed, so that the bytes do not depend on the chunking).
ROW_GROUP_ROWS = 1 << 18

_NEEDS_QUOTES = r'[",\r\n]'


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A result table as Arrow, with a schema that depends only on the column dtypes.

    Dates become ``date32``, floats ``float64`` (NaN -> null), integer and nullable
    integer columns ``int64``, booleans ``bool`` and everything else ``string``.
    """
    cols: dict[str, pa.Array] = {}
    for name in frame.columns:
        s = frame[name]
        dtype = s.dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            values = s.to_numpy().astype("datetime64[D]")
            cols[str(name)] = pa.array(values, type=pa.date32(), mask=np.isnat(values))
        elif pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
            cols[str(name)] = pa.array(s, type=pa.bool_(), from_pandas=True)
        elif pd.api.types.is_float_dtype(dtype):
            v = s.to_numpy(dtype=np.float64)
            cols[str(name)] = pa.array(v, mask=np.isnan(v), type=pa.float64())
        elif pd.api.types.is_integer_dtype(dtype):
            cols[str(name)] = pa.array(s, type=pa.int64(), from_pandas=True)
        else:
            arr = pa.array(s, from_pandas=True)
            if pa.types.is_dictionary(arr.type):
                arr = arr.cast(arr.type.value_type)
            if not pa.types.is_string(arr.type):
                arr = arr.cast(pa.string())
            cols[str(name)] = arr
    return pa.table(cols) if cols else pa.table({})


def csv_text(table: pa.Table, header: bool = True) -> bytes:
    """CSV bytes of a table (see the module notes); every row ends with ``\\n``."""
    head = (",".join(_quote_name(c) for c in table.column_names) + "\n").encode() if header else b""
    if table.num_rows == 0 or table.num_columns == 0:
        return head
    if not any(_needs_quotes(col) for col in table.columns):
        # The common case: pyarrow's writer, quoting nothing, gives the same bytes.
        sink = io.BytesIO()
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
        pacsv.write_csv(table, sink, options)
        return head + sink.getvalue()
    texts = []
    for col in table.columns:
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        is_text = pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
        t = arr if is_text else pc.cast(arr, pa.string())
        if is_text and _needs_quotes(arr):
            needs = pc.match_substring_regex(t, _NEEDS_QUOTES)
            quoted = pc.binary_join_element_wise('"', pc.replace_substring(t, '"', '""'), '"', "")
            t = pc.if_else(needs, quoted, t)
        texts.append(pc.fill_null(t, ""))
    # The separator goes between the parts only: the last column carries the line end.
    texts[-1] = pc.binary_join_element_wise(texts[-1], pa.scalar(""), "\n")
    return head + _concatenated(pc.binary_join_element_wise(*texts, ","))


def _needs_quotes(col: pa.Array | pa.ChunkedArray) -> bool:
    """Whether any text value of a column holds a comma, a double quote or a line break."""
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    for arr in chunks:
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            continue
        if not len(arr):
            continue
        width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
        offsets = np.frombuffer(arr.buffers()[1], dtype=width)[
            arr.offset : arr.offset + len(arr) + 1
        ]
        data = arr.buffers()[2]
        if data is None:
            continue
        raw = np.frombuffer(data, dtype=np.uint8)[int(offsets[0]) : int(offsets[-1])]
        if ((raw == 44) | (raw == 34) | (raw == 10) | (raw == 13)).any():
            return True
    return False


def _concatenated(lines: pa.Array) -> bytes:
    """The bytes of a string array's values, back to back (its data buffer)."""
    lines = lines.cast(pa.large_string()) if lines.type != pa.large_string() else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[
        lines.offset : lines.offset + len(lines) + 1
    ]
    data = lines.buffers()[2]
    return data[int(offsets[0]) : int(offsets[-1])].to_pybytes()


def _quote_name(name: str) -> str:
    if any(ch in name for ch in ',"\r\n'):
        return '"' + name.replace('"', '""') + '"'
    return name


class _TableFile:
    """One output table being written under a temporary name."""

    def __init__(self, final: Path, fmt: str) -> None:
        self.final = final
        self.fmt = fmt
        self.tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        self._fh = None
        self._pq = None
        self._schema: pa.Schema | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._header_written = False

    def append(self, piece: pa.Table | tuple[bytes, bytes]) -> None:
        """Append an Arrow table, or (CSV only) ``(header, body)`` bytes from :func:`encode`."""
        if self.fmt == "csv":
            if self._fh is None:
                self._fh = self.tmp.open("wb")
            head, body = piece if isinstance(piece, tuple) else _csv_parts(piece)
            if not self._header_written:
                self._fh.write(head)
                self._header_written = True
            self._fh.write(body)
            return
        if isinstance(piece, tuple):
            raise TypeError("CSV text cannot be appended to a Parquet table")
        import pyarrow.parquet as pq

        if self._pq is None:
            self._schema = _unified_schema(piece.schema)
            self._pq = pq.ParquetWriter(str(self.tmp), self._schema, compression="zstd")
        piece = _conform(piece, self._schema)
        if piece.num_rows:
            self._pending.append(piece)
            self._pending_rows += piece.num_rows
        self._flush(final=False)

    def _flush(self, final: bool) -> None:
        """Write full row groups (the file's bytes do not depend on the pieces' sizes)."""
        if self._pq is None or not self._pending_rows:
            return
        if not final and self._pending_rows < ROW_GROUP_ROWS:
            return
        table = pa.concat_tables(self._pending).combine_chunks()
        n_full = table.num_rows - table.num_rows % ROW_GROUP_ROWS
        end = table.num_rows if final else n_full
        for lo in range(0, end, ROW_GROUP_ROWS):
            self._pq.write_table(table.slice(lo, min(ROW_GROUP_ROWS, end - lo)))
        rest = table.slice(end)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def close(self) -> None:
        if self.fmt == "csv":
            if self._fh is None:
                self._fh = self.tmp.open("wb")
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        elif self._pq is not None:
            self._flush(final=True)
            self._pq.close()

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            if self._fh is not None:
                self._fh.close()
            if self._pq is not None:
                self._pq.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()


def _unified_schema(schema: pa.Schema) -> pa.Schema:
    """Null-typed columns (all missing in the first piece) are written as strings."""
    return pa.schema(
        [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in schema]
    )


def _conform(piece: pa.Table, schema: pa.Schema) -> pa.Table:
    if piece.schema.equals(schema):
        return piece
    cols = []
    for f in schema:
        if f.name in piece.column_names:
            cols.append(piece.column(f.name).cast(f.type))
        else:
            cols.append(pa.nulls(piece.num_rows, f.type))
    return pa.Table.from_arrays(cols, schema=schema)


class ResultWriter:
    """Write the tables of an evaluation, piece by piece, and publish them together.

    Parameters
    ----------
    outdir : path-like
        Output folder (created). Receives ``<table>.csv`` (or ``.parquet``) for each
        table appended and ``settings.json``.
    meta : dict
        Written to ``settings.json``.
    fmt : {"csv", "parquet"}

    Use as a context manager: the files are renamed into place when the block ends
    without an exception, and removed otherwise.
    """

    def __init__(self, outdir: str | os.PathLike, meta: Mapping, fmt: str = "csv") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r} (expected one of {FORMATS})")
        self.outdir = Path(outdir)
        self.meta = dict(meta)
        self.fmt = fmt
        self._files: dict[str, _TableFile] = {}
        self._created: list[Path] = []  # folders made by this writer (removed on abort)
        self.paths: dict[str, Path] = {}

    def _file(self, name: str) -> _TableFile:
        f = self._files.get(name)
        if f is None:
            self._make_outdir()
            f = self._files[name] = _TableFile(self.outdir / f"{name}.{self.fmt}", self.fmt)
        return f

    def append(self, tables: Mapping[str, pd.DataFrame | pa.Table | bytes]) -> None:
        """Append one piece of each table (rows in output order).

        Values are DataFrames, Arrow tables (:func:`to_arrow`) or, for CSV, bytes from
        :func:`encode` (prepared elsewhere, e.g. on a worker).
        """
        for name, piece in tables.items():
            if isinstance(piece, pd.DataFrame):
                piece = to_arrow(piece)
            self._file(name).append(piece)

    def _make_outdir(self) -> None:
        missing = [p for p in (self.outdir, *self.outdir.parents) if not p.exists()]
        self.outdir.mkdir(parents=True, exist_ok=True)
        self._created += [p for p in missing if p not in self._created]

    def commit(self) -> dict[str, Path]:
        """Close the tables, write ``settings.json`` and rename everything into place."""
        self._make_outdir()
        for f in self._files.values():
            f.close()
        for name, f in self._files.items():
            os.replace(f.tmp, f.final)
            self.paths[name] = f.final
        settings = self.outdir / "settings.json"
        with atomic_write(settings, "w") as fh:
            json.dump(self.meta, fh, indent=2)
            fh.write("\n")
        self.paths["settings"] = settings
        return self.paths

    def abort(self) -> None:
        """Remove the temporary files (and the folders this writer made)."""
        for f in self._files.values():
            f.discard()
        for folder in self._created:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def encode(tables: Mapping[str, pd.DataFrame], fmt: str) -> dict[str, pa.Table | tuple]:
    """Prepare result tables for :meth:`ResultWriter.append` (CSV text or Arrow).

    For CSV the value is ``(header bytes, body bytes)``; the work of formatting is
    done here, so that it can run where the rows were computed.
    """
    out: dict[str, pa.Table | tuple] = {}
    for name, frame in tables.items():
        table = to_arrow(frame)
        out[name] = _csv_parts(table) if fmt == "csv" else table
    return out


def _csv_parts(table: pa.Table) -> tuple[bytes, bytes]:
    return csv_text(table.schema.empty_table(), header=True), csv_text(table, header=False)
