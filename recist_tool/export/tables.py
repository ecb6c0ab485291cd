"""Result tables: loading batch outputs, the per-lesion long table, Excel and Parquet.

The batch command writes ``timepoints.csv``, ``patients.csv``, ``messages.csv`` and
``settings.json``; this module reads them back (or computes them from annotation
files), derives the per-lesion table (one row per lesion per time point with its size
and change), and writes everything as one Excel workbook (a sheet per table plus a
settings sheet) and as Parquet files (settings in the file metadata).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recist_tool import __version__
from recist_tool._atomic import atomic_write, atomic_write_bytes
from recist_tool._outputs import check_output_set
from recist_tool.annotations import iso_dates, to_dates
from recist_tool.export import ExportError
from recist_tool.export.deid import Deidentifier, drop_identifier_columns

RESULT_FILES = {
    "timepoints": "timepoints.csv",
    "patients": "patients.csv",
    "messages": "messages.csv",
}
LESION_COLUMNS = (
    "patient_id",
    "lesion_id",
    "kind",
    "organ",
    "nodal",
    "timepoint",
    "date",
    "days_from_baseline",
    "status",
    "long_axis_mm",
    "short_axis_mm",
    "size_mm",
    "counted_mm",
    "baseline_mm",
    "change_from_baseline_mm",
    "change_from_baseline_pct",
    "nadir_mm",
    "change_from_nadir_pct",
)


@dataclass
class Results:
    """Batch results of a cohort, as tables.

    Attributes
    ----------
    timepoints, patients, messages : pandas.DataFrame
        The batch tables (columns of ``timepoints.csv`` etc.).
    settings : dict
        Response settings used and the software version.
    annotations : pandas.DataFrame or None
        The annotation table, when known (needed for the per-lesion table).
    """

    timepoints: pd.DataFrame
    patients: pd.DataFrame
    messages: pd.DataFrame = field(default_factory=pd.DataFrame)
    settings: dict[str, Any] = field(default_factory=dict)
    annotations: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """All tables by sheet/file name, the lesion table included when available."""
        out = {"patients": self.patients, "timepoints": self.timepoints}
        if self.annotations is not None:
            out["lesions"] = lesion_table(self.annotations, self.response_settings())
        out["messages"] = self.messages
        return out

    def response_settings(self) -> Any:
        """The engine settings of the run (from ``settings.json``), defaults otherwise."""
        from recist_tool.response import ResponseSettings

        return ResponseSettings.from_dict(self.settings.get("settings", {}))

    def deidentified(self, deid: Deidentifier) -> Results:
        """A copy with pseudonyms, shifted dates and no identifier columns."""
        return Results(
            timepoints=deid.frame(self.timepoints),
            patients=deid.frame(self.patients),
            messages=deid.frame(self.messages),
            settings={**self.settings, "deidentified": True},
            annotations=None if self.annotations is None else deid.frame(self.annotations),
        )

    def without_identifiers(self) -> Results:
        """A copy without direct identifier or provenance columns (the default)."""
        return Results(
            timepoints=drop_identifier_columns(self.timepoints),
            patients=drop_identifier_columns(self.patients),
            messages=drop_identifier_columns(self.messages),
            settings=self.settings,
            annotations=(
                None if self.annotations is None else drop_identifier_columns(self.annotations)
            ),
        )


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={"patient_id": str}, keep_default_na=True)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ExportError(f"{path}: cannot read the table: {exc}") from exc


def load_results(folder: str | os.PathLike, annotations: Any = None) -> Results:
    """Read the outputs of ``recist-tool batch`` from a folder.

    Parameters
    ----------
    folder : path-like
        Folder with ``timepoints.csv`` and ``patients.csv`` (``messages.csv`` and
        ``settings.json`` optional).
    annotations : path, sequence of paths or DataFrame, optional
        The annotation files of the run, for the per-lesion table.

    Returns
    -------
    Results

    Raises
    ------
    ExportError
        When a required table is missing or unreadable.
    recist_tool._outputs.MixedOutputError
        When the folder's manifest says its files are not all of one run.
    """
    folder = Path(folder)
    present = [f for f in (*RESULT_FILES.values(), "settings.json") if (folder / f).is_file()]
    check_output_set(folder, present)  # one run's files, or a clear refusal
    frames = {}
    for name, fname in RESULT_FILES.items():
        path = folder / fname
        if not path.is_file():
            if name == "messages":
                frames[name] = pd.DataFrame()
                continue
            raise ExportError(f"{folder}: no {fname} (is this the output folder of a batch run?)")
        frames[name] = _read_csv(path)
    settings: dict[str, Any] = {}
    spath = folder / "settings.json"
    if spath.is_file():
        try:
            settings = json.loads(spath.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ExportError(f"{spath}: not valid JSON: {exc}") from exc
    ann = _annotations(annotations)
    return Results(settings=settings, annotations=ann, **frames)


def _annotations(annotations: Any) -> pd.DataFrame | None:
    if annotations is None:
        return None
    if isinstance(annotations, pd.DataFrame):
        return annotations
    from recist_tool.annotations import read_annotations

    return read_annotations(annotations)


def compute_results(annotations: Any, settings: Any = None) -> Results:
    """Evaluate annotation files (or a table) with the RECIST engine.

    Parameters
    ----------
    annotations : path, sequence of paths or DataFrame
    settings : recist_tool.response.ResponseSettings, optional

    Returns
    -------
    Results
    """
    from recist_tool.response import ResponseSettings, evaluate

    settings = settings or ResponseSettings()
    frame = _annotations(annotations)
    ev = evaluate(frame, settings)
    # The engine's tables hold the display values the batch CSVs hold; only the
    # types are made those of a CSV read back (dates as text, plain columns).
    return Results(
        timepoints=_as_read(ev.timepoints),
        patients=_as_read(ev.patients),
        messages=_as_read(ev.messages),
        settings=json.loads(json.dumps(ev.settings_document())),
        annotations=frame,
    )


def _as_read(frame: pd.DataFrame) -> pd.DataFrame:
    """A result table typed as ``load_results`` types the CSV (dates ``YYYY-MM-DD``)."""
    out = {}
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[c] = s.dt.strftime("%Y-%m-%d").astype(object).where(s.notna(), np.nan)
        elif isinstance(s.dtype, pd.CategoricalDtype | pd.ArrowDtype | pd.StringDtype):
            v = s.astype(object)
            out[c] = v.where(v.notna() & (v != ""), np.nan)
        elif pd.api.types.is_integer_dtype(s) and s.hasnans:
            out[c] = s.astype("float64")
        else:
            out[c] = s
    return pd.DataFrame(out)


def load_any(inputs: list[str | os.PathLike]) -> Results:
    """Results from a batch output folder, or computed from annotation files.

    Parameters
    ----------
    inputs : list of path-like
        Either one folder holding ``timepoints.csv`` (optionally followed by the
        annotation files of that run) or annotation CSV files/folders.
    """
    if not inputs:
        raise ExportError("no input given: a batch output folder or annotation CSV files")
    first = Path(inputs[0])
    if first.is_dir() and (first / "timepoints.csv").is_file():
        return load_results(first, annotations=list(inputs[1:]) or None)
    return compute_results(list(inputs))


# ----------------------------------------------------------------------- lesion table


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with categorical/Arrow text columns as plain object columns."""
    out = frame.copy()
    for col in out.columns:
        dtype = out[col].dtype
        if isinstance(dtype, pd.CategoricalDtype | pd.ArrowDtype | pd.StringDtype):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def lesion_table(annotations: pd.DataFrame, settings: Any = None) -> pd.DataFrame:
    """One row per lesion per time point with its size and change.

    ``size_mm`` is the diameter RECIST uses (short axis of a node, long axis
    otherwise); ``counted_mm`` is what a target contributes to the sum, as the RECIST
    engine counts it (:attr:`recist_tool.response.Evaluation.target_sizes`: 5 mm when
    too small, 0 when disappeared — a node keeps its short axis —, empty when not
    evaluated). Changes are relative to the lesion's value at the patient's baseline
    (first date) and to its smallest earlier value (nadir).

    Parameters
    ----------
    annotations : pandas.DataFrame
        An annotation table (as from ``read_annotations``).
    settings : recist_tool.response.ResponseSettings, optional
        The settings of the run (the rounding setting changes what is counted).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LESION_COLUMNS`.
    """
    from recist_tool.response import evaluate

    a = _plain(annotations)
    if a.empty:
        return pd.DataFrame(columns=list(LESION_COLUMNS))
    counted = evaluate(annotations, settings).target_sizes
    key = ["patient_id", "timepoint", "lesion_id"]
    counted = counted.astype({k: str for k in key})
    a["date"] = to_dates(a["date"])  # any year (pandas' default stops at 1677 and 2262)
    for k in key:
        a[k] = a[k].astype(str)
    a = a.merge(counted, on=key, how="left")  # non-target and new lesions: not counted
    nodal = a["nodal"].astype(bool).to_numpy()
    la = pd.to_numeric(a["long_axis_mm"], errors="coerce").to_numpy(float)
    sa = pd.to_numeric(a["short_axis_mm"], errors="coerce").to_numpy(float)
    a["size_mm"] = np.where(nodal, sa, la)  # the recorded RECIST diameter
    a = a.sort_values(["patient_id", "lesion_id", "date"], kind="stable")
    base_date = a.groupby("patient_id")["date"].transform("min")
    a["days_from_baseline"] = (a["date"] - base_date).dt.days
    a["date"] = iso_dates(a["date"])
    return a[list(LESION_COLUMNS)].reset_index(drop=True)


# ----------------------------------------------------------------------- writers


def settings_rows(settings: dict[str, Any]) -> pd.DataFrame:
    """Settings as a two-column table (nested keys joined with dots)."""
    rows: list[tuple[str, Any]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            scalar = isinstance(value, str | int | float | bool)
            rows.append((prefix, value if scalar else json.dumps(value)))

    walk("", settings)
    if not any(k in ("version", "software_version") for k, _ in rows):
        rows.append(("software_version", __version__))
    return pd.DataFrame(rows, columns=["setting", "value"])


def _excel_ready(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        name = str(col).lower()
        if name == "date" or name.endswith("_date"):
            # Excel dates start in 1900: earlier ones stay ISO text, never blanked
            d = to_dates(out[col])
            out[col] = [
                None if pd.isna(v) else (v.date() if v.year >= 1900 else iso) for v, iso in
                zip(d, iso_dates(d), strict=True)
            ]  # fmt: skip
        elif isinstance(out[col].dtype, pd.ArrowDtype) or str(out[col].dtype).startswith("string"):
            out[col] = out[col].astype(object)
    return out


def write_excel(results: Results, path: str | os.PathLike) -> Path:
    """Write the tables to one Excel workbook: a sheet per table and ``settings``.

    Parameters
    ----------
    results : Results
    path : path-like
        The ``.xlsx`` file (written atomically).

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl", date_format="YYYY-MM-DD") as xw:
        for name, frame in results.tables().items():
            _excel_ready(frame).to_excel(xw, sheet_name=name, index=False)
            ws = xw.sheets[name]
            ws.freeze_panes = "A2"
            for i, col in enumerate(frame.columns, start=1):
                width = max([len(str(col)), *(len(str(v)) for v in frame[col].head(200))]) + 2
                ws.column_dimensions[ws.cell(1, i).column_letter].width = min(width, 40)
        settings_rows(results.settings).to_excel(xw, sheet_name="settings", index=False)
    atomic_write_bytes(path, buf.getvalue())
    return path


def write_parquet(results: Results, folder: str | os.PathLike) -> list[Path]:
    """Write each table as ``<name>.parquet``; the settings go into the file metadata.

    Returns
    -------
    list of pathlib.Path
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    meta = json.dumps(results.settings, default=str).encode()
    paths = []
    for name, frame in results.tables().items():
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), b"recist_tool.settings": meta}
        )
        path = folder / f"{name}.parquet"
        with atomic_write(path, "wb") as fh:
            pq.write_table(table, fh)
        paths.append(path)
    return paths


def write_csv(results: Results, folder: str | os.PathLike) -> list[Path]:
    """Write each table as ``<name>.csv`` and the settings as ``settings.json``."""
    folder = Path(folder)
    paths = []
    for name, frame in results.tables().items():
        path = folder / f"{name}.csv"
        with atomic_write(path, "w") as fh:
            frame.to_csv(fh, index=False)
        paths.append(path)
    spath = folder / "settings.json"
    with atomic_write(spath, "w") as fh:
        json.dump(results.settings, fh, indent=2, default=str)
    paths.append(spath)
    return paths
