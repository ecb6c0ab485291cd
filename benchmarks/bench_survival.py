"""Benchmark ``recist-tool survival`` end to end, and its fast parts against lifelines.

For each cohort size (default: 211 patients as the founding study, seed 2018, and
100,000 patients), all in one run:

1. ``generate_cohort`` writes annotations.csv, clinical.csv and treatments.csv, and
   ``recist-tool batch`` turns the annotations into patients.csv (not timed);
2. ``recist-tool survival`` (OS and PFS; Kaplan–Meier, log-rank, Cox naive + landmark +
   time-varying, PH tests, the founding-study table, 18 figures as PNG + SVG, the
   default) in a child process, ``--repeat`` times: wall time (median and range), CPU
   time of the process and its figure workers, peak RSS; and, in the same rounds, the
   same run with ``--figure-format png,svg,pdf`` (PDF figures for journals);
3. the peers, in this process on the same data, alternating with ours: the four
   fixed-time Cox fits (naive and landmark, both endpoints) with lifelines'
   ``CoxPHFitter`` and with ``recist_tool.survival.efron``; the two time-varying Cox
   fits with lifelines' ``CoxTimeVaryingFitter`` and with ours; the PH tests of the
   fixed-time models with ``lifelines.statistics.proportional_hazard_test`` and with
   ours; the figures rendered one after the other in this process and by the worker
   processes.

``--baseline CLI`` also times another installation's ``recist-tool`` (e.g. main's
``/work/main/.venv/bin/recist-tool``) in the same rounds, alternating with this one:
before and after a change, on the same machine at the same load.

Usage::

    .venv/bin/python benchmarks/bench_survival.py [--n 211 100000] [--repeat 3]
        [--peer-repeat 3] [--keep DIR] [--no-pdf] [--no-peers] [--baseline CLI]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("recist-tool")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "recist_tool"]


def _timed_child(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system, with children) and peak RSS (MB)."""
    wrapper = (
        "import os, resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
        "w = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print(w, u.ru_utime + u.ru_stime, u.ru_maxrss / 1024); sys.exit(r.returncode)"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{out.stderr[-3000:]}")
    wall, cpu, rss = map(float, out.stdout.split()[-3:])
    return wall, cpu, rss


def spread(v: list[float]) -> str:
    v = sorted(v)
    return f"{statistics.median(v):.2f} s [{v[0]:.2f}–{v[-1]:.2f}]"


def prepare(n: int, seed: int, work: Path) -> Path:
    from recist_tool.synth.cohort import CohortParams, generate_cohort, write_cohort

    folder = work / f"n{n}"
    if not (folder / "batch" / "patients.csv").exists():
        write_cohort(generate_cohort(CohortParams(n=n), seed=seed), folder / "cohort")
        subprocess.run(
            [*_cli(), "batch", str(folder / "cohort" / "annotations.csv"), "-o",
             str(folder / "batch"), "-q"],
            check=True,
        )  # fmt: skip
    return folder


def survival_cmd(
    folder: Path, *extra: str, out: str = "survival", cli: list[str] | None = None
) -> list[str]:
    return [
        *(cli or _cli()), "survival",
        "--clinical", str(folder / "cohort" / "clinical.csv"),
        "--responses", str(folder / "batch" / "patients.csv"),
        "--treatments", str(folder / "cohort" / "treatments.csv"),
        "-o", str(folder / out), "--endpoint", "os", "--endpoint", "pfs", "-q", *extra,
    ]  # fmt: skip


def peers(folder: Path, repeat: int) -> None:
    """Time-varying Cox, PH test and figures: lifelines / serial against ours."""
    from lifelines import CoxPHFitter, CoxTimeVaryingFitter
    from lifelines.statistics import proportional_hazard_test

    from recist_tool.survival import pipeline as pl
    from recist_tool.survival.cox import FIT_OPTIONS, design_matrix, long_format
    from recist_tool.survival.efron import fit_counting_process, fit_right_censored, ph_test
    from recist_tool.survival.groups import IMAGING, build_predictors
    from recist_tool.survival.inputs import read_inputs
    from recist_tool.survival.plots import FigureRenderer

    inputs = read_inputs(
        folder / "cohort" / "clinical.csv",
        folder / "batch" / "patients.csv",
        folder / "cohort" / "treatments.csv",
    )
    settings = pl.SurvivalSettings(endpoints=("os", "pfs"))
    result, figs = pl.analyse(inputs, settings)
    preds = build_predictors(inputs, None, "three", [])
    longs = []
    for ep in ("os", "pfs"):
        t, e, _ = pl.endpoint_data(inputs, ep)
        p = {k: v for k, v in preds.items() if not (ep == "pfs" and k == IMAGING)}
        values = {k: v.values.loc[t.index] for k, v in p.items()}
        ok = design_matrix(p, values).notna().all(axis=1)
        long = long_format(t[ok], e[ok], p).dropna()
        long = long[long["_stop"] > long["_start"]]
        covs = [c for c in long.columns if not c.startswith("_")]
        longs.append((long, [c for c in covs if long[c].nunique() > 1]))
    n_rows = sum(len(lg) for lg, _ in longs)
    fits = [f for (ep, a), f in result.fits.items() if a != "time_varying" and f.model]
    covs_of = [[c for c in f.data.columns if not c.startswith("_")] for f in fits]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cphs = [CoxPHFitter().fit(f.data, "_time", "_event", fit_options=FIT_OPTIONS) for f in fits]
    keys = ("cph", "cph_ours", "ctv", "ours", "ph_ll", "ph_ours", "fig_serial", "fig_parallel")
    times: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(repeat):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for f in fits:
                CoxPHFitter().fit(f.data, "_time", "_event", fit_options=FIT_OPTIONS)
        times["cph"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for f, covs in zip(fits, covs_of, strict=True):
            fit_right_censored(f.data["_time"], f.data["_event"], f.data[covs])
        times["cph_ours"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for long, covs in longs:
            CoxTimeVaryingFitter().fit(
                long[["_id", "_start", "_stop", "_event", *covs]], id_col="_id",
                event_col="_event", start_col="_start", stop_col="_stop",
                fit_options=FIT_OPTIONS, show_progress=False,
            )  # fmt: skip
        times["ctv"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for long, covs in longs:
            fit_counting_process(long["_start"], long["_stop"], long["_event"], long[covs])
        times["ours"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for f, cph in zip(fits, cphs, strict=True):
                proportional_hazard_test(cph, f.data, time_transform="km")
        times["ph_ll"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for f in fits:
            ph_test(f.model, f.data, "km")
        times["ph_ours"].append(time.perf_counter() - t0)
        for key, procs in (("fig_serial", 0), ("fig_parallel", None)):
            t0 = time.perf_counter()
            with FigureRenderer(("png", "svg"), processes=procs) as r:
                for spec in figs:
                    r.submit(spec["name"], "km", **{k: v for k, v in spec.items() if k != "name"})
                r.results()
            times[key].append(time.perf_counter() - t0)

    def ratio(a: str, b: str) -> str:
        return f"{statistics.median(times[a]) / statistics.median(times[b]):.1f}x"

    print(
        f"  fixed-time Cox, {len(fits)} models (naive + landmark): lifelines "
        f"{spread(times['cph'])}, ours {spread(times['cph_ours'])}: {ratio('cph', 'cph_ours')}"
    )
    print(
        f"  time-varying Cox, both endpoints ({n_rows:,} intervals): lifelines "
        f"{spread(times['ctv'])}, ours {spread(times['ours'])}: {ratio('ctv', 'ours')}"
    )
    print(
        f"  PH tests of {len(fits)} models: lifelines {spread(times['ph_ll'])}, ours "
        f"{spread(times['ph_ours'])}: {ratio('ph_ll', 'ph_ours')}"
    )
    print(f"  {len(figs)} Kaplan–Meier figures (PNG + SVG): one after the other "
          f"{spread(times['fig_serial'])}, worker processes {spread(times['fig_parallel'])}: "
          f"{ratio('fig_serial', 'fig_parallel')}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[211, 100_000])
    ap.add_argument("--seed", type=int, default=2018)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peer-repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="Keep the cohorts and outputs in this folder.")
    ap.add_argument("--no-pdf", action="store_true", help="Skip the runs with PDF figures.")
    ap.add_argument("--no-peers", action="store_true", help="Skip the in-process peers.")
    ap.add_argument(
        "--baseline",
        metavar="CLI",
        help="Another recist-tool executable (e.g. main's) timed in the same rounds.",
    )
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_survival_"))
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    for n in args.n:
        folder = prepare(n, args.seed, work)
        pdf = ("--figure-format", "png,svg,pdf")
        runs, runs_pdf, runs_base = [], [], []
        for _ in range(args.repeat):  # interleaved: all see the same load
            if args.baseline:
                base = survival_cmd(folder, out="survival_baseline", cli=[args.baseline])
                runs_base.append(_timed_child(base))
            runs.append(_timed_child(survival_cmd(folder)))
            if not args.no_pdf:
                runs_pdf.append(_timed_child(survival_cmd(folder, *pdf, out="survival_pdf")))
        files = len(list((folder / "survival").iterdir()))
        print(f"\n{n:,} patients (seed {args.seed}): recist-tool survival, OS + PFS, "
              f"{files} files (figures PNG + SVG, the default)")  # fmt: skip
        results = [("", runs)]
        if runs_pdf:
            files_pdf = len(list((folder / "survival_pdf").iterdir()))
            results.append((f"  with PDF figures too ({files_pdf} files):\n", runs_pdf))
        if runs_base:
            results.append((f"  baseline {args.baseline}, same rounds:\n", runs_base))
        for label, rs in results:
            print(
                f"{label}  wall {spread([r[0] for r in rs])}; CPU (with figure workers) "
                f"{spread([r[1] for r in rs])}; peak RSS {max(r[2] for r in rs):.0f} MB"
            )
        if runs_base:
            paired = sorted(b[0] / r[0] for b, r in zip(runs_base, runs, strict=True))
            print(f"  baseline / this, wall, per round: median {statistics.median(paired):.2f} "
                  f"[{paired[0]:.2f}–{paired[-1]:.2f}]")  # fmt: skip
        print(f"  load average after these runs {os.getloadavg()[0]:.1f}")
        if not args.no_peers:
            peers(folder, args.peer_repeat)
    print(f"\n(outputs in {work})")


if __name__ == "__main__":
    main()
