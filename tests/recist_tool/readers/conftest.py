"""Double-read cohorts for the multi-reader tests: generated, and small hand-made ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from recist_tool.annotations import Measurement, write_annotations
from recist_tool.synth.cohort import CohortParams
from recist_tool.synth.double_read import generate_double_read, write_double_read
from tests.recist_tool.cli_helpers import run_cli_captured as run_cli  # noqa: F401


@pytest.fixture(scope="session")
def double_read(tmp_path_factory):
    """A generated 60-patient double-read cohort on disk: (folder, DoubleReadCohort)."""
    folder = tmp_path_factory.mktemp("double") / "cohort"
    dr = generate_double_read(CohortParams(n=60), seed=4)
    write_double_read(dr, folder)
    return folder, dr


def target(pid, tp, date, lid, ld, organ="liver", status="measured", nodal=False, sa=None):
    return Measurement(
        pid, tp, date, lid, "target", organ, nodal, ld, sa if sa is not None else None, status
    )


def write_reading(cohort: Path, reader: str, pid: str, rows: list[Measurement]) -> Path:
    """Write one reader's reading of one patient in the cohort layout."""
    for m in rows:
        m.extra["reader"] = reader
    return write_annotations(rows, cohort / "readings" / reader / f"{pid}.csv")


def course(pid: str, sizes: list[float], dates: list[str], lid: str = "T1") -> list[Measurement]:
    """One liver target measured at each date (baseline first)."""
    labels = ["baseline", *[f"fu{i}" for i in range(1, len(sizes))]]
    return [target(pid, tp, d, lid, s) for tp, d, s in zip(labels, dates, sizes, strict=True)]
