"""Benchmark ``recist-tool batch`` end to end, and compare with pyrecist.

1. A synthetic cohort (default 100,000 patients x 6 time points x up to 8 lesions,
   about 4 million rows) goes through the installed ``recist-tool batch`` command;
   we report rows per second and the peak memory of the process.
2. On the target-only part of a smaller cohort (default 2,000 patients), the same
   command and pyrecist (PyPI, ``python -m pyrecist``) run one after the other in
   this run; we report the ratio of their wall times.

Usage: ``python benchmarks/bench_batch.py [--patients N] [--peer-patients M]``.
Data are written under ``benchmarks/_data/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
EXE = Path(sys.executable).with_name("recist-tool")


def make_cohort(n_patients: int, n_tp: int = 6, seed: int = 1) -> pa.Table:
    """A valid cohort: per patient 3-5 targets, 2-3 non-targets, rare new lesions.

    That is up to 8 lesions and 6.5 on average: 100,000 patients give ~3.9 M rows.
    """
    rng = np.random.default_rng(seed)
    n_t = rng.integers(3, 6, n_patients)
    n_nt = rng.integers(2, 4, n_patients)
    n_les = n_t + n_nt
    # lesion table
    les_patient = np.repeat(np.arange(n_patients), n_les)
    les_idx = np.arange(len(les_patient)) - np.repeat(np.cumsum(n_les) - n_les, n_les)
    is_target = les_idx < n_t[les_patient]
    # At most one nodal target (lesion 0) and each non-nodal target in its own organ,
    # so that the baseline rules hold and the messages stay few, as in curated data.
    nodal = (les_idx == 0) & (rng.random(len(les_patient)) < 0.3)
    base = np.where(
        nodal, rng.uniform(15, 40, len(les_patient)), rng.uniform(10, 80, len(les_patient))
    )
    # time points: baseline then every 6-13 weeks
    gaps = rng.integers(42, 92, (n_patients, n_tp))
    gaps[:, 0] = 0
    day0 = np.datetime64("2015-01-01") + rng.integers(0, 3000, n_patients).astype("timedelta64[D]")
    days = np.cumsum(gaps, axis=1)
    # one row per lesion per time point
    rows_les = np.repeat(np.arange(len(les_patient)), n_tp)
    rows_tp = np.tile(np.arange(n_tp), len(les_patient))
    p = les_patient[rows_les]
    trend = rng.normal(0, 0.25, n_patients)[p] * rows_tp
    noise = np.where(rows_tp > 0, rng.normal(0, 0.05, len(rows_les)), 0)
    # capped at 300 mm: the annotation format refuses sizes above 2000 mm (MAX_SIZE_MM)
    size = np.minimum(np.round(base[rows_les] * np.exp(trend + noise), 1), 300.0)
    tgt = is_target[rows_les]
    status = np.where(tgt, "measured", "present").astype(object)
    u = rng.random(len(rows_les))
    follow = rows_tp > 0
    status[follow & tgt & (u < 0.01)] = "not_evaluated"
    status[follow & tgt & (size < 5)] = "too_small"
    status[follow & ~tgt & (u < 0.1)] = "absent"
    status[follow & ~tgt & (u > 0.99)] = "progression"
    nod = nodal[rows_les]
    la = np.where(tgt & (status == "measured"), np.where(nod, size + 5, size), np.nan)
    sa = np.where(tgt & nod & (status == "measured"), size, np.nan)
    kind = np.where(tgt, "target", "non_target").astype(object)
    lesion_id = np.char.add("L", les_idx[rows_les].astype(str))
    tp_label = np.array(["baseline"] + [f"fu{i}" for i in range(1, n_tp)], dtype=object)[rows_tp]
    date = day0[p] + days[p, rows_tp].astype("timedelta64[D]")
    organ = np.where(
        nod,
        "lymph node",
        np.array(["liver", "lung", "bone", "adrenal", "kidney", "spleen", "skin", "brain"])[
            les_idx[rows_les] % 8
        ],
    )
    # rare new lesions: add ~1 % of patients at their last time point
    table = pa.table(
        {
            "patient_id": np.char.add("P", p.astype(str)),
            "timepoint": tp_label.astype(str),
            "date": date.astype(str),
            "lesion_id": lesion_id,
            "kind": kind.astype(str),
            "organ": organ,
            "nodal": np.where(nod, "true", "false"),
            "long_axis_mm": pa.array(la, mask=np.isnan(la)),
            "short_axis_mm": pa.array(sa, mask=np.isnan(sa)),
            "status": status.astype(str),
        }
    )
    new_p = np.flatnonzero(rng.random(n_patients) < 0.01)
    if len(new_p):
        last = day0[new_p] + days[new_p, -1].astype("timedelta64[D]")
        table = pa.concat_tables(
            [
                table,
                pa.table(
                    {
                        "patient_id": np.char.add("P", new_p.astype(str)),
                        "timepoint": np.full(len(new_p), f"fu{n_tp - 1}"),
                        "date": last.astype(str),
                        "lesion_id": np.full(len(new_p), "NEW1"),
                        "kind": np.full(len(new_p), "new"),
                        "organ": np.full(len(new_p), "liver"),
                        "nodal": np.full(len(new_p), "false"),
                        "long_axis_mm": pa.nulls(len(new_p), pa.float64()),
                        "short_axis_mm": pa.nulls(len(new_p), pa.float64()),
                        "status": np.full(len(new_p), "present"),
                    }
                ),
            ]
        )
    return table


def write_csv(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a child process."""
    t0 = time.perf_counter()
    # A fresh wrapper process so that ru_maxrss is this command's alone.
    wrapper = (
        "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{out.stderr[-2000:]}")
    peak_mb = int(out.stdout.strip().splitlines()[-1]) / 1024
    return wall, peak_mb


def pyrecist_input(table: pa.Table, path: Path) -> pa.Table:
    """The target-only part of a cohort in pyrecist's columns."""
    t = table.filter(pa.compute.equal(table["kind"], "target"))
    df = t.to_pandas()
    df["measurement"] = np.where(df["nodal"] == "true", df["short_axis_mm"], df["long_axis_mm"])
    df["measurement"] = df["measurement"].fillna(5.0)  # too small counts 5 mm
    out = df.assign(
        # pyrecist takes DataFrame.diff() over all columns: its ids must be numbers.
        patient_id=df["patient_id"].str[1:].astype(int),
        study_date=df["date"].str.replace("-", ""),
        lesion_label_alias=df["lesion_id"],
        lesion_category="target",
    )[["patient_id", "study_date", "measurement", "lesion_label_alias", "lesion_category"]]
    out.to_csv(path, index=False)
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--peer-patients", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of the big batch (median)")
    args = ap.parse_args()

    big = DATA / f"cohort_{args.patients}.csv"
    if not big.exists():
        t0 = time.perf_counter()
        write_csv(make_cohort(args.patients), big)
        print(f"generated {big.name} in {time.perf_counter() - t0:.1f} s")
    n_rows = sum(1 for _ in big.open("rb")) - 1
    size_mb = big.stat().st_size / 1e6
    runs = [
        timed([str(EXE), "batch", str(big), "-o", str(DATA / "out_big"), "-q"])
        for _ in range(args.repeat)
    ]
    walls = sorted(w for w, _ in runs)
    wall, peak = statistics.median(walls), max(p for _, p in runs)
    print(f"\nrecist-tool batch, {args.patients:,} patients, {n_rows:,} rows ({size_mb:.0f} MB)")
    print(f"  runs: {', '.join(f'{w:.2f}' for w in walls)} s")
    print(
        f"  median wall {wall:.2f} s  ->  {n_rows / wall:,.0f} rows/s "
        f"(best {n_rows / walls[0]:,.0f})   peak RSS {peak:,.0f} MB"
    )

    small = make_cohort(args.peer_patients, seed=2)
    ours = DATA / f"peer_ours_{args.peer_patients}.csv"
    theirs = DATA / f"peer_pyrecist_{args.peer_patients}.csv"
    targets = pyrecist_input(small, theirs)
    write_csv(targets, ours)
    n_small = targets.num_rows
    w_ours = statistics.median(
        timed([str(EXE), "batch", str(ours), "-o", str(DATA / "out_ours"), "-q"])[0]
        for _ in range(args.repeat)
    )
    w_peer = statistics.median(
        timed([sys.executable, "-m", "pyrecist", str(theirs), "-o", str(DATA)])[0]
        for _ in range(args.repeat)
    )
    print(f"\ntarget-only cohort, {args.peer_patients:,} patients, {n_small:,} rows")
    print(f"  recist-tool batch  {w_ours:7.2f} s   {n_small / w_ours:12,.0f} rows/s")
    print(f"  pyrecist           {w_peer:7.2f} s   {n_small / w_peer:12,.0f} rows/s")
    print(f"  ratio (pyrecist time / recist-tool time): {w_peer / w_ours:.1f}x")
    print(f"\n(cpu count {os.cpu_count()})")


if __name__ == "__main__":
    main()
