"""Benchmark: the full ``recist-tool survival`` command on a 10,000-patient synthetic cohort.

Steps (only step 3 is timed):
1. ``generate_cohort`` writes annotations.csv, clinical.csv and treatments.csv;
2. ``recist-tool batch`` turns the annotations into patients.csv;
3. ``recist-tool survival`` runs OS and PFS, naive + landmark + time-varying Cox, KM,
   log-rank, PH tests, and every figure (PNG + SVG), in a child process whose wall
   time and peak RSS (``getrusage(RUSAGE_CHILDREN).ru_maxrss``) are reported.

Usage::

    .venv/bin/python benchmarks/bench_survival.py [--n 10000] [--seed 1] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("recist-tool")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "recist_tool"]


def _timed_child(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one child."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, _, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if proc.returncode not in (None, 0):
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{proc.stderr.read()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="Keep the outputs in this folder.")
    args = ap.parse_args()

    from recist_tool.synth.cohort import CohortParams, generate_cohort, write_cohort

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_survival_"))
    t = time.perf_counter()
    write_cohort(generate_cohort(CohortParams(n=args.n), seed=args.seed), work / "cohort")
    gen = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run(
        [
            *_cli(),
            "batch",
            str(work / "cohort" / "annotations.csv"),
            "-o",
            str(work / "batch"),
            "-q",
        ],
        check=True,
    )
    batch = time.perf_counter() - t
    cmd = [
        *_cli(),
        "survival",
        "--clinical",
        str(work / "cohort" / "clinical.csv"),
        "--responses",
        str(work / "batch" / "patients.csv"),
        "--treatments",
        str(work / "cohort" / "treatments.csv"),
        "-o",
        str(work / "survival"),
        "--endpoint",
        "os",
        "--endpoint",
        "pfs",
        "-q",
    ]
    runs = [_timed_child(cmd) for _ in range(args.repeat)]
    n_files = len(list((work / "survival").iterdir()))
    print(
        f"cohort: {args.n} patients (seed {args.seed}); generated in {gen:.1f} s, "
        f"batch {batch:.1f} s"
    )
    for i, (wall, cpu, rss) in enumerate(runs, 1):
        print(
            f"survival run {i}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss:.0f} MB, "
            f"{n_files} files"
        )
    print(
        f"best: {min(r[0] for r in runs):.1f} s wall, {min(r[1] for r in runs):.1f} s CPU; "
        f"peak RSS max {max(r[2] for r in runs):.0f} MB; outputs in {work / 'survival'}"
    )
    print("(wall time includes waiting for the CPU on a shared machine; CPU time does not)")


if __name__ == "__main__":
    main()
