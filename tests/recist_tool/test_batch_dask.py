"""``recist-tool batch --executor dask`` on a real (local) Dask cluster of two workers.

The scheduler is given by address, as for a cluster elsewhere; the outputs must be
the bytes of a local run, for a folder of CSV files and for a partitioned Parquet
dataset.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recist_tool.annotations import write_annotations
from recist_tool.synth.cohort import CohortParams, generate_cohort

distributed = pytest.importorskip("distributed")  # the dev extra installs it; CI has it

TABLES = ("timepoints.csv", "patients.csv", "messages.csv", "endpoints.csv")


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("recist-tool")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        yield c


def test_dask_executor_writes_the_local_results(cluster, tmp_path):
    """Also with issue 10's options: deaths from clinical.csv (sent to the workers once),
    iRECIST, and --keep-going with a bad patient (exit code 1, listed in messages)."""
    syn = generate_cohort(CohortParams(n=120), seed=11)
    ann = syn.annotations.copy()
    ann.loc[ann.index[7], "long_axis_mm"] = -1.0  # this patient is left out
    ann = ann.sample(frac=1.0, random_state=2)  # patients straddle the files
    folder = tmp_path / "csv"
    for i, part in enumerate(np.array_split(np.arange(len(ann)), 4)):
        write_annotations(ann.iloc[part], folder / f"site{i}.csv")
    table = pa.Table.from_pandas(ann, preserve_index=False)
    site = pa.array(np.arange(table.num_rows) % 3).cast(pa.string())
    pq.write_to_dataset(table.append_column("site", site), tmp_path / "ds", partition_cols=["site"])
    clin = tmp_path / "clinical.csv"
    syn.clinical.to_csv(clin, index=False)
    options = ["--keep-going", "--criteria", "recist,irecist", "--clinical", str(clin)]

    r = run("batch", str(folder), "-o", str(tmp_path / "local"), "-q", *options)
    assert r.returncode == 1, r.stderr
    local = {t: (tmp_path / "local" / t).read_bytes() for t in TABLES}
    assert (
        b"input_error" in local["messages.csv"]
        and b"ibest_overall_response" in local["patients.csv"]
    )
    for name, src in (("folder", folder), ("parquet", tmp_path / "ds")):
        out = tmp_path / name
        r = run(
            "batch", str(src), "-o", str(out), "--executor", "dask",
            "--scheduler", cluster.scheduler_address, "--chunk-patients", "25", *options,
        )  # fmt: skip
        assert r.returncode == 1, r.stderr
        if name == "folder":  # (Parquet rows are named by row, not line)
            assert {t: (out / t).read_bytes() for t in TABLES} == local, name
        else:
            assert {t: (out / t).read_bytes() for t in TABLES if t != "messages.csv"} == {
                t: v for t, v in local.items() if t != "messages.csv"
            }
        assert "119 patient(s)" in r.stdout


def test_dask_executor_reports_bad_input_and_writes_nothing(cluster, tmp_path):
    ann = generate_cohort(CohortParams(n=40), seed=3).annotations.copy()
    ann.loc[ann.index[-1], "status"] = "shrunk"
    src = write_annotations(ann, tmp_path / "a.csv")
    r = run(
        "batch", str(src), "-o", str(tmp_path / "out"), "--executor", "dask",
        "--scheduler", cluster.scheduler_address, "--chunk-patients", "5",
    )  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"a.csv: line {len(ann) + 1}: column status: 'shrunk'" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    ann = generate_cohort(CohortParams(n=5), seed=1).annotations
    src = write_annotations(ann, tmp_path / "a.csv")
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    r = run("batch", str(src), "-o", str(tmp_path / "o"), "--executor", "dask",
            "--scheduler", "tcp://127.0.0.1:9", env=env)  # fmt: skip
    assert r.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in r.stderr
