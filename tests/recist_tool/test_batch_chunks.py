"""``recist-tool batch`` in chunks of patients: same bytes as the whole cohort, any input order,
CSV and Parquet in and out, and errors in a late chunk.

The cohort is small (a few hundred patients) and cut into chunks of a handful of
patients, so that every path of the chunked reader runs; the 100,000-patient byte
check is in ``benchmarks/bench_batch.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recist_tool.annotations import read_annotations, write_annotations
from recist_tool.batch import run_batch
from recist_tool.errors import AnnotationError
from recist_tool.partition import index_cohort
from recist_tool.response import ResponseSettings, evaluate
from recist_tool.synth.cohort import CohortParams, generate_cohort

TABLES = ("timepoints", "patients", "messages", "endpoints")


def run(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("recist-tool")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    """~300 patients with some baseline rule violations (messages in several chunks)."""
    ann = generate_cohort(CohortParams(n=300), seed=5).annotations.copy()
    rng = np.random.default_rng(1)
    targets = ann.index[(ann["kind"] == "target") & (ann["timepoint"] == "baseline")]
    small = rng.choice(targets, 25, replace=False)
    ann.loc[small, "long_axis_mm"] = 8.5  # measurable_size warnings
    ann.loc[ann.index[:40], "organ"] = "liver, left lobe"  # a value that needs quotes
    return ann


@pytest.fixture(scope="module")
def whole(cohort, tmp_path_factory) -> dict[str, bytes]:
    """The reference: the whole cohort evaluated at once (``Evaluation.write``)."""
    out = tmp_path_factory.mktemp("whole")
    evaluate(cohort).write(out)
    files = {t: (out / f"{t}.csv").read_bytes() for t in TABLES}
    assert files["messages"].count(b"\n") > 20  # messages in many chunks
    assert b'"liver, left lobe"' not in files["timepoints"]  # not a column of the results
    return files


def _bytes(out: Path, fmt: str = "csv") -> dict[str, bytes]:
    return {t: (out / f"{t}.{fmt}").read_bytes() for t in TABLES}


def test_chunks_of_any_size_give_the_whole_cohort_bytes_on_shuffled_input(cohort, whole, tmp_path):
    shuffled = cohort.sample(frac=1.0, random_state=3)  # every patient spread over the file
    src = write_annotations(shuffled, tmp_path / "shuffled.csv")
    for size in (3, 7, 1000):
        result = run_batch(src, tmp_path / f"out{size}", chunk_patients=size)
        assert result.n_chunks == -(-300 // size)
        assert result.n_patients == 300
        assert _bytes(tmp_path / f"out{size}") == whole, size
    # A row cap cuts chunks too; the bytes stay the same.
    result = run_batch(src, tmp_path / "rows", chunk_patients=1000, chunk_rows=150)
    assert result.n_chunks >= len(cohort) // 150
    assert _bytes(tmp_path / "rows") == whole


def test_irregular_csv_text_keeps_lines_and_results(cohort, whole, tmp_path):
    """Blank lines, CRLF, quoted line breaks and a patient split over two files."""
    text = write_annotations(cohort, tmp_path / "a.csv").read_text()
    lines = text.splitlines()
    header, rows = lines[0], lines[1:]
    half = len(rows) // 2
    first = "\r\n".join([header, *rows[:half]]) + "\r\n\r\n"
    (tmp_path / "p1.csv").write_text(first, newline="")
    second = "\n".join([header, *rows[half:]]).replace(",liver,", ',"liver\nsegment 4",', 5)
    (tmp_path / "p2.csv").write_text(second + "\n\n\n", newline="")  # no blank-line rows
    out = tmp_path / "out"
    run_batch([tmp_path / "p1.csv", tmp_path / "p2.csv"], out, chunk_patients=11)
    assert _bytes(out) == whole
    # Line numbers after the quoted line breaks are those an editor shows.
    bad = second.replace(",measured", ",shrunk", 1).splitlines(keepends=True)
    (tmp_path / "p2.csv").write_text("".join(bad) + "\n", newline="")
    expected = next(i for i, ln in enumerate(bad, 1) if "shrunk" in ln)
    with pytest.raises(AnnotationError, match=rf"p2.csv: line {expected}: column status"):
        run_batch([tmp_path / "p1.csv", tmp_path / "p2.csv"], tmp_path / "o2", chunk_patients=5)
    assert not (tmp_path / "o2").exists()


def test_parquet_in_and_out(cohort, whole, tmp_path):
    table = pa.Table.from_pandas(cohort.sample(frac=1.0, random_state=4), preserve_index=False)
    pq.write_table(table, tmp_path / "cohort.parquet", row_group_size=1000)  # typed columns
    site = pa.array(np.where(np.arange(table.num_rows) % 3 == 0, "A", "B"))
    pq.write_to_dataset(table.append_column("site", site), tmp_path / "ds", partition_cols=["site"])
    r = run("batch", str(tmp_path / "ds"), "-o", str(tmp_path / "out_ds"), "-q",
            "--chunk-patients", "13")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert _bytes(tmp_path / "out_ds") == whole
    run_batch(tmp_path / "cohort.parquet", tmp_path / "out_cohort", chunk_patients=13)
    assert _bytes(tmp_path / "out_cohort") == whole
    # --format parquet: the same tables, typed; the bytes do not depend on the chunks.
    for size in (9, 1000):
        run_batch(tmp_path / "ds", tmp_path / f"pq{size}", fmt="parquet", chunk_patients=size)
    assert _bytes(tmp_path / "pq9", "parquet") == _bytes(tmp_path / "pq1000", "parquet")
    got = pq.read_table(tmp_path / "pq9" / "patients.parquet")
    assert got.schema.field("baseline_date").type == pa.date32()
    assert got.schema.field("pfs_days").type == pa.int64()
    ref = pd.read_csv(tmp_path / "out_cohort" / "patients.csv", keep_default_na=False)
    mine = got.to_pandas()
    assert list(mine.columns) == list(ref.columns)
    assert mine["best_overall_response"].tolist() == ref["best_overall_response"].tolist()
    assert np.allclose(
        mine["best_change_pct"].to_numpy(float),
        pd.to_numeric(ref["best_change_pct"]).to_numpy(float),
        equal_nan=True,
    )
    # A bad value in a Parquet file is named by file and row.
    bad = table.to_pandas()
    bad.loc[bad.index[123], "long_axis_mm"] = -4.0
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), tmp_path / "bad.parquet")
    r = run("batch", str(tmp_path / "bad.parquet"), "-o", str(tmp_path / "obad"))
    assert r.returncode == 2
    assert "bad.parquet: row 124: column long_axis_mm: '-4': must not be negative" in r.stderr


def test_error_in_a_late_chunk_writes_nothing(cohort, tmp_path):
    src = write_annotations(cohort, tmp_path / "a.csv")
    out = tmp_path / "out"
    assert run("batch", str(src), "-o", str(out), "-q").returncode == 0
    before = _bytes(out)
    manifest = (out / "recist-run.json").read_bytes()
    lines = src.read_text().splitlines()
    last = max(range(1, len(lines)), key=lambda i: lines[i].split(",")[0])  # the last chunk
    lines[last] = lines[last].replace(",target,", ",tumour,")
    src.write_text("\n".join(lines) + "\n")
    r = run("batch", str(src), "-o", str(out), "--chunk-patients", "10")
    assert r.returncode == 2
    assert f"a.csv: line {last + 1}: column kind: 'tumour'" in r.stderr
    assert "Traceback" not in r.stderr
    assert _bytes(out) == before
    assert (out / "recist-run.json").read_bytes() == manifest  # the previous run's set
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{t}.csv" for t in TABLES] + ["settings.json", "recist-run.json"]
    )
    assert not list(tmp_path.glob(".out.*"))  # its staging folder is gone


def test_index_finds_every_row_once(cohort, tmp_path):
    src = write_annotations(cohort.sample(frac=1.0, random_state=9), tmp_path / "a.csv")
    index = index_cohort(src)
    assert index.n_patients == cohort["patient_id"].nunique()
    assert index.n_rows == len(cohort)
    plan = index.plan(chunk_patients=17)
    rows = [c.n_rows for c in plan]
    assert sum(rows) == len(cohort) and len(rows) == len(plan)
    capped = index.plan(chunk_patients=17, chunk_rows=40)
    assert all(c.n_rows <= 40 or c.n_patients == 1 for c in capped)
    # The chunked reader's lines are the whole-file reader's lines.
    whole = read_annotations(src)
    lines = np.sort(np.concatenate([_chunk_lines(c) for c in plan]))
    assert np.array_equal(lines, np.sort(whole["_line"].to_numpy()))


def _chunk_lines(chunk) -> np.ndarray:
    from recist_tool.partition import read_chunk

    return read_chunk(chunk).column("_line").to_numpy()


def test_results_do_not_depend_on_settings_per_chunk(cohort, tmp_path):
    """Settings reach every chunk (strict: errors counted over the whole cohort)."""
    src = write_annotations(cohort, tmp_path / "a.csv")
    settings = ResponseSettings(strict=True)
    a = run_batch(src, tmp_path / "a", settings, chunk_patients=5)
    b = run_batch(src, tmp_path / "b", settings, chunk_patients=500)
    assert a.n_errors == b.n_errors > 0 and a.has_errors
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    assert a.best == b.best


def test_keep_going_clinical_and_all_criteria_in_chunks(tmp_path):
    """Issue 10's outputs through the chunks: bad patients in several chunks and a file
    that cannot be read are left out and listed (file, line, column, value), deaths from
    clinical.csv, iRECIST and Choi columns, endpoints.csv and settings.json: the same
    bytes for every chunk size and as the whole cohort evaluated at once."""
    from recist_tool.survival.inputs import read_clinical

    syn = generate_cohort(CohortParams(n=120), seed=8)
    ann = syn.annotations.copy()
    rng = np.random.default_rng(2)
    measured = (ann["kind"] == "target") & ann["long_axis_mm"].notna()
    ann["mean_hu"] = np.where(measured, np.round(rng.normal(60, 15, len(ann)), 1), np.nan)
    ids = sorted(ann["patient_id"].unique())
    n_tp = ann.groupby("patient_id")["timepoint"].nunique()
    # in the first, a middle and the last chunk (the middle one with follow-up)
    first, last = ids[2], ids[-1]
    middle = next(p for p in ids[60:] if n_tp[p] > 1)
    ann.loc[ann.index[ann["patient_id"] == first][1], "long_axis_mm"] = -3.0
    ann.loc[ann.index[ann["patient_id"] == last][0], "status"] = "shrunk"
    rows = ann.index[ann["patient_id"] == middle]  # two time points on one date: structural
    ann.loc[rows, "date"] = ann.loc[rows[0], "date"]
    shuffled = ann.sample(frac=1.0, random_state=5)
    a = write_annotations(shuffled.iloc[: len(ann) // 2], tmp_path / "a.csv")
    b = write_annotations(shuffled.iloc[len(ann) // 2 :], tmp_path / "b.csv")
    broken = tmp_path / "c.csv"
    broken.write_text(a.read_text().splitlines()[0] + "\nX1,baseline,2020-01-01\n")
    files = [a, b, broken]
    clin_path = tmp_path / "clinical.csv"
    syn.clinical.to_csv(clin_path, index=False)
    settings = ResponseSettings(criteria=("recist", "irecist", "choi"))

    out_whole = tmp_path / "whole"
    frame = read_annotations(files, keep_going=True)
    clinical = read_clinical(clin_path)[0]
    evaluate(frame, settings, clinical=clinical, keep_going=True).write(out_whole)
    whole = _bytes(out_whole) | {"settings": (out_whole / "settings.json").read_bytes()}
    for size in (7, 1000):
        out = tmp_path / f"out{size}"
        result = run_batch(
            files, out, settings, clinical=clin_path, keep_going=True, chunk_patients=size
        )
        got = _bytes(out) | {"settings": (out / "settings.json").read_bytes()}
        assert got == whole, size
        assert result.has_errors and result.n_left_out == 3 and result.n_left_out_files == 1
    messages = pd.read_csv(tmp_path / "out7" / "messages.csv", keep_default_na=False)
    errors = messages[messages["severity"] == "error"]
    by = {p: m for p, m in zip(errors["patient_id"], errors.to_dict("records"), strict=True)}
    assert set(by) == {"", first, middle, last}
    assert by[first]["column"] == "long_axis_mm" and by[first]["value"] == "-3"
    assert by[last]["column"] == "status" and by[last]["value"] == "shrunk"
    assert by[last]["file"] in (str(a), str(b)) and by[last]["line"] != ""
    assert "same date" in by[middle]["message"] and "c.csv" in by[""]["message"]
    assert list(messages["patient_id"]) == sorted(messages["patient_id"])  # patient order
    patients = pd.read_csv(tmp_path / "out7" / "patients.csv", keep_default_na=False)
    assert len(patients) == len(ids) - 3 and {first, middle, last}.isdisjoint(patients.patient_id)
    assert {"ibest_overall_response", "choi_best_response"} <= set(patients.columns)
    assert (patients["pfs_censoring"] == "death").any()
    endpoints = pd.read_csv(tmp_path / "out7" / "endpoints.csv")
    assert endpoints.set_index("endpoint").loc["ORR", "n"] == len(ids) - 3
    # The command line: exit code 1, every problem listed.
    r = run("batch", str(a), str(b), str(broken), "-o", str(tmp_path / "cli"), "-q",
            "--keep-going", "--criteria", "recist,irecist,choi", "--clinical", str(clin_path),
            "--chunk-patients", "5")  # fmt: skip
    assert r.returncode == 1, r.stderr
    assert _bytes(tmp_path / "cli") == _bytes(out_whole)


def test_a_chunk_whose_patients_are_all_left_out(tmp_path):
    ann = generate_cohort(CohortParams(n=3), seed=4).annotations.copy()
    ids = sorted(ann["patient_id"].unique())
    ann.loc[ann.index[ann["patient_id"] == ids[1]][0], "kind"] = "tumour"
    src = write_annotations(ann, tmp_path / "a.csv")
    one = run_batch(src, tmp_path / "one", keep_going=True, chunk_patients=1)
    whole = run_batch(src, tmp_path / "whole", keep_going=True)
    assert one.n_chunks == 3 and one.n_patients == whole.n_patients == 2
    assert _bytes(tmp_path / "one") == _bytes(tmp_path / "whole")


def test_typed_parquet_columns_become_the_same_text_per_distinct_value():
    """Typed Parquet columns are converted once per distinct value (no row-by-row text):
    the rows read as the text the row-by-row conversion gives, nulls stay null, and
    values that give the same text share one dictionary entry."""
    import datetime as dt

    from recist_tool.partition import _as_dictionary_text, _as_text

    cols = [
        pa.array([33.2, None, float("nan"), 33.2, 1e-7, 2e-7, -0.0, 0.0, 10.0]),
        pa.array([1, None, 1, 250], pa.int64()),
        pa.array([True, None, False, True]),
        pa.array([dt.date(2016, 6, 2), None, dt.date(2016, 6, 2)]),
        pa.array([dt.datetime(2016, 6, 2), dt.datetime(2016, 6, 2, 8, 30), None]),
        pa.array([4.5, None, 4.5, 7.0]).dictionary_encode(),
        pa.array(["a", None, " b", "a"]),
        pa.nulls(3),
    ]
    for col in cols:
        got = _as_dictionary_text(col)
        assert got.type == pa.dictionary(pa.int32(), pa.string())
        plain = col.dictionary_decode() if pa.types.is_dictionary(col.type) else col
        assert got.cast(pa.string()).to_pylist() == _as_text(plain).to_pylist()
        values = got.dictionary.to_pylist()
        assert len(values) == len(set(values))  # 1e-7 and 2e-7 both read "0": one entry


def test_sorted_parquet_chunks_are_views_of_row_groups(cohort, whole, tmp_path):
    """Patients in result order (the common case): a chunk's rows are one range of a
    row group, read as a slice; chunks that cut through row groups give the same bytes."""
    table = pa.Table.from_pandas(
        cohort.sort_values("patient_id", kind="stable"), preserve_index=False
    )
    pq.write_table(table, tmp_path / "sorted.parquet", row_group_size=700)
    plan = index_cohort(tmp_path / "sorted.parquet").plan(chunk_patients=13)
    straddling = 0
    for chunk in plan:
        ((_, runs),) = chunk.parts
        for g in np.unique(runs["group"]):  # one range of rows per row group
            pos, rows = runs["pos"][runs["group"] == g], runs["rows"][runs["group"] == g]
            assert (pos[1:] == pos[:-1] + rows[:-1]).all()
        straddling += len(np.unique(runs["group"])) > 1
    assert straddling  # some chunks are cut from two row groups
    run_batch(tmp_path / "sorted.parquet", tmp_path / "out", chunk_patients=13)
    assert _bytes(tmp_path / "out") == whole
