"""Batch evaluation: annotation files of a cohort of any size in, result tables out.

The cohort is cut into chunks of whole patients (:mod:`recist_tool.partition`); each
chunk is read, checked and evaluated by the engine's public :func:`evaluate`, and its
result tables are appended to the output files (:mod:`recist_tool.output`). Memory
follows the chunk, not the cohort, and the files are those of a whole-cohort
evaluation, byte for byte. Chunks run one after the other in this process, or as tasks
on a Dask cluster (:mod:`recist_tool.batch_dask`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from recist_tool.annotations import check_table
from recist_tool.output import FORMATS, ResultWriter, encode
from recist_tool.partition import CHUNK_PATIENTS, CHUNK_ROWS, Chunk, index_cohort, read_chunk
from recist_tool.response import Evaluation, ResponseSettings, evaluate
from recist_tool.response.endpoints import EndpointCounts
from recist_tool.response.evaluation import problem_messages

#: Executors of ``run_batch``.
EXECUTORS: tuple[str, ...] = ("local", "dask")
_ORDER = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")


@dataclass
class ChunkResult:
    """What one chunk gives back: its tables (encoded or not), what the cohort tables
    need of its patients, and counts for the summary."""

    number: int
    tables: dict
    n_patients: int
    n_timepoints: int
    best: dict[str, int]
    first: dict[str, int]
    n_warnings: int
    n_errors: int
    endpoint_counts: EndpointCounts
    settings_document: dict
    n_left_out: int = 0
    evaluation: Evaluation | None = None


@dataclass
class BatchResult:
    """Summary of a batch run (the tables themselves are in the files).

    Attributes
    ----------
    n_patients, n_timepoints, n_rows, n_chunks : int
    best, first : collections.Counter
        Patients by best overall response and by first follow-up response.
    n_warnings, n_errors : int
        Messages (errors: strict-mode rule errors and, with ``keep_going``, input
        problems).
    n_left_out, n_left_out_files : int
        Patients and whole files left out under ``keep_going``.
    paths : dict of Path
        Files written.
    evaluation : Evaluation or None
        The evaluation itself when the cohort was one chunk (small cohorts).
    """

    n_patients: int = 0
    n_timepoints: int = 0
    n_rows: int = 0
    n_chunks: int = 0
    best: Counter = field(default_factory=Counter)
    first: Counter = field(default_factory=Counter)
    n_warnings: int = 0
    n_errors: int = 0
    n_left_out: int = 0
    n_left_out_files: int = 0
    paths: dict[str, Path] = field(default_factory=dict)
    evaluation: Evaluation | None = None

    @property
    def has_errors(self) -> bool:
        """Whether any message is an error (strict mode, or input left out by keep-going)."""
        return self.n_errors > 0

    def add(self, part: ChunkResult) -> None:
        self.n_patients += part.n_patients
        self.n_timepoints += part.n_timepoints
        self.best.update(part.best)
        self.first.update(part.first)
        self.n_warnings += part.n_warnings
        self.n_errors += part.n_errors
        self.n_left_out += part.n_left_out


@dataclass(frozen=True)
class ChunkJob:
    """What every chunk is evaluated with (sent once to each Dask worker)."""

    settings: ResponseSettings
    clinical: pd.DataFrame | None = None
    keep_going: bool = False


def evaluate_chunk(
    chunk: Chunk,
    job: ChunkJob | ResponseSettings,
    fmt: str | None = "csv",
    table=None,
    keep: bool = False,
) -> ChunkResult:
    """Read (unless ``table`` is given), check and evaluate one chunk; encode its tables.

    The unit of work of every executor: runs in this process or on a Dask worker.
    The chunk goes through the engine's public :func:`evaluate` unchanged. With
    ``fmt=None`` the tables stay DataFrames (encoded by the writer thread).
    """
    if isinstance(job, ResponseSettings):
        job = ChunkJob(job)
    if table is None:
        table = read_chunk(chunk)
    parquet_only = bool(chunk.parts) and all(
        chunk.files[f].kind == "parquet" for f, _ in chunk.parts
    )
    row_word = "row" if parquet_only else "line"
    frame = check_table(table, row_word=row_word, keep_going=job.keep_going)
    del table
    ev = evaluate(frame, job.settings, clinical=job.clinical, keep_going=job.keep_going)
    del frame
    pts = ev.patients
    messages = ev.messages
    severity = messages["severity"]
    tables = ev.output_tables()
    left_out = messages.loc[messages["rule"] == "input_error", "patient_id"]
    return ChunkResult(
        number=chunk.number,
        tables=tables if fmt is None else encode(tables, fmt),
        n_patients=len(pts),
        n_timepoints=len(ev.timepoints),
        best=pts["best_overall_response"].astype(str).value_counts().to_dict(),
        first=pts["first_followup_response"].astype(str).value_counts().to_dict(),
        n_warnings=int((severity == "warning").sum()),
        n_errors=int((severity == "error").sum()),
        endpoint_counts=EndpointCounts.of(pts),
        settings_document=ev.settings_document(),
        n_left_out=int(left_out[left_out != ""].nunique()),
        evaluation=ev if keep else None,
    )


def _local(chunks: Sequence[Chunk], job: ChunkJob) -> Iterator[ChunkResult]:
    """One chunk after the other; the next chunk is read while this one is evaluated
    (and the last one's tables are written)."""
    fmt = None  # encoded by the writer thread
    if len(chunks) == 1:
        yield evaluate_chunk(chunks[0], job, fmt, keep=True)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="recist-read") as pool:
        nxt = pool.submit(read_chunk, chunks[0])
        for k in range(len(chunks)):
            table = nxt.result()
            if k + 1 < len(chunks):
                nxt = pool.submit(read_chunk, chunks[k + 1])
            yield evaluate_chunk(chunks[k], job, fmt, table=table)
            del table


def _clinical(clinical) -> pd.DataFrame | None:
    """clinical.csv, checked, reduced to what the engine uses (deaths, treatment date)."""
    if clinical is None:
        return None
    from recist_tool.survival.inputs import read_clinical

    clin, _, _ = read_clinical(clinical)
    keep = [c for c in ("patient_id", "treatment_date", "last_contact_date", "death") if c in clin]
    return clin[keep]


def run_batch(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    settings: ResponseSettings | None = None,
    progress: bool = False,
    *,
    clinical: str | os.PathLike | pd.DataFrame | None = None,
    keep_going: bool = False,
    fmt: str = "csv",
    chunk_patients: int = CHUNK_PATIENTS,
    chunk_rows: int = CHUNK_ROWS,
    executor: str = "local",
    scheduler: str | None = None,
) -> BatchResult:
    """Read annotation files, evaluate RECIST 1.1 and write the result tables.

    Parameters
    ----------
    inputs : path or sequence of paths
        Annotation CSV or Parquet files, or folders of them (Parquet datasets with
        Hive-style partition folders included).
    outdir : path-like
        Receives ``timepoints``, ``patients``, ``messages``, ``endpoints`` (``.csv`` or
        ``.parquet``) and ``settings.json``, renamed into place together when the run
        succeeds. Nothing is written when the input is bad (unless ``keep_going``).
    settings : ResponseSettings, optional
    progress : bool
        Show a progress bar on the terminal (stderr).
    clinical : path or DataFrame, optional
        clinical.csv (``patient_id, treatment_date, last_contact_date, death``, as
        for ``recist-tool survival``): death becomes a PFS event.
    keep_going : bool
        A patient with an input error is left out and listed in messages (severity
        ``error``, with file, line, column and value) instead of stopping the run; a
        file that cannot be read at all is left out whole. In every chunk.
    fmt : {"csv", "parquet"}
        Format of the result tables.
    chunk_patients, chunk_rows : int
        Patients per chunk, and the most rows a chunk may hold: memory is bounded by a
        chunk. The results do not depend on either.
    executor : {"local", "dask"}
        ``local``: chunks in this process, one after the other. ``dask``: chunks as
        tasks on a Dask cluster (``scheduler``: its address, or ``local`` for a cluster
        on this machine); the workers must see the input files at the same paths.
    scheduler : str, optional
        Dask scheduler address (``tcp://host:8786``) or ``local``.

    Returns
    -------
    BatchResult

    Raises
    ------
    recist_tool.errors.AnnotationError
        On bad input, naming the file and line; nothing is written.
    """
    settings = settings or ResponseSettings()
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r} (expected one of {', '.join(EXECUTORS)})")
    clin = _clinical(clinical)
    result = BatchResult()
    client = None
    if executor == "dask":
        from recist_tool import batch_dask

        client = batch_dask.connect(scheduler or "local")
    try:
        with _Progress(progress, 1) as bar:
            bar.step("indexing patients")
            index = index_cohort(
                inputs, None if client is None else batch_dask.mapper(client), keep_going
            )
            plan = index.plan(chunk_patients, chunk_rows)
            result.n_rows, result.n_chunks = index.n_rows, len(plan)
            bar.reset(len(plan), f"evaluating {index.n_patients:,} patients")
            chunks = _LazyChunks(plan)
            job = ChunkJob(settings, clin, keep_going)
            if client is not None:
                parts = batch_dask.run_chunks(client, chunks, job, fmt)
            else:
                parts = _local(chunks, job)
            with (
                ResultWriter(outdir, {}, fmt) as writer,
                ThreadPoolExecutor(1, thread_name_prefix="recist-write") as writing,
            ):
                if index.problems:  # files left out whole (keep-going): no patient, first
                    writer.append({"messages": problem_messages(index.problems)})
                    result.n_errors += len(index.problems)
                    result.n_left_out_files = len(index.problems)
                counts = EndpointCounts()
                pending = None
                for part in parts:
                    if pending is not None:
                        pending.result()  # in chunk order, one chunk in flight
                    pending = writing.submit(_write, writer, part.tables, fmt)
                    result.add(part)
                    counts = counts + part.endpoint_counts
                    if not writer.meta:
                        writer.meta = part.settings_document
                    if part.evaluation is not None and result.n_chunks == 1:
                        result.evaluation = part.evaluation
                    bar.step(f"chunk {part.number + 1} of {result.n_chunks}")
                if pending is not None:
                    pending.result()
                # Cohort endpoints: from the counts of all chunks (per distinct day, not
                # per patient), the numbers of the whole cohort's table.
                writer.append({"endpoints": counts.table(settings)})
            result.paths = writer.paths
    finally:
        if client is not None:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    return result


def _write(writer: ResultWriter, tables: dict, fmt: str) -> None:
    first = next(iter(tables.values()), None)
    writer.append(encode(tables, fmt) if isinstance(first, pd.DataFrame) else tables)


class _LazyChunks(Sequence):
    """The chunks of a plan, built when asked for."""

    def __init__(self, plan) -> None:
        self._plan = plan

    def __len__(self) -> int:
        return len(self._plan)

    def __getitem__(self, k):
        return self._plan.chunk(k)


class _Progress:
    """A rich progress bar on stderr when asked for and stderr is a terminal."""

    def __init__(self, enabled: bool, total: int) -> None:
        self._bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            console = Console(stderr=True)
            if console.is_terminal:
                self._bar = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    TimeElapsedColumn(),
                    console=console,
                    transient=True,
                )
                self._task = self._bar.add_task("", total=total)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def step(self, text: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=text, advance=1)

    def reset(self, total: int, text: str) -> None:
        if self._bar is not None:
            self._bar.reset(self._task, total=total, description=text)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


def response_summary(result: BatchResult | Evaluation) -> pd.DataFrame:
    """Counts of best overall response (and of first follow-up response)."""
    if isinstance(result, Evaluation):
        best = result.patients["best_overall_response"].value_counts()
        first = result.patients["first_followup_response"].value_counts()
    else:
        best, first = result.best, result.first
    return pd.DataFrame(
        {
            "response": list(_ORDER),
            "best_overall": [int(best.get(r, 0)) for r in _ORDER],
            "first_followup": [int(first.get(r, 0)) for r in _ORDER],
        }
    )


__all__ = ["BatchResult", "evaluate_chunk", "response_summary", "run_batch"]
