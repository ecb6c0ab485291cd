"""Batch evaluation: annotation files of a whole cohort in, result tables out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from recist_tool._outputs import output_set
from recist_tool.annotations import annotation_files, read_annotations
from recist_tool.response import Evaluation, ResponseSettings, evaluate


def run_batch(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    settings: ResponseSettings | None = None,
    progress: bool = False,
) -> Evaluation:
    """Read annotation files, evaluate RECIST 1.1 and write the result tables.

    Parameters
    ----------
    inputs : path or sequence of paths
        Annotation CSV files or folders of them.
    outdir : path-like
        Receives ``timepoints.csv``, ``patients.csv``, ``messages.csv`` and
        ``settings.json`` (and the manifest ``recist-run.json``), all at once: see
        :mod:`recist_tool._outputs`. Nothing is written when the input is bad or the
        disk is full.
    settings : ResponseSettings, optional
    progress : bool
        Show a progress bar on the terminal (stderr).

    Returns
    -------
    Evaluation

    Raises
    ------
    recist_tool.errors.AnnotationError
        On bad input, before anything is written.
    recist_tool._atomic.OutputError
        When the results cannot be written; ``outdir`` keeps what it held.
    """
    files = annotation_files(inputs)
    with _Progress(progress, len(files) + 2) as bar:
        frame = read_annotations(files, on_file=lambda f: bar.step(f"reading {f.name}"))
        bar.step("evaluating")
        result = evaluate(frame, settings)
        bar.step("writing")
        with output_set(outdir, "batch") as stage:  # all four files appear at once
            result.write(stage)
    return result


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
                    TextColumn("{task.description}", markup=False),  # file names as typed
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

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


def response_summary(result: Evaluation) -> pd.DataFrame:
    """Counts of best overall response (and of first follow-up response)."""
    order = ["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"]
    best = result.patients["best_overall_response"].value_counts()
    first = result.patients["first_followup_response"].value_counts()
    return pd.DataFrame(
        {
            "response": order,
            "best_overall": [int(best.get(r, 0)) for r in order],
            "first_followup": [int(first.get(r, 0)) for r in order],
        }
    )


__all__ = ["Path", "response_summary", "run_batch"]
