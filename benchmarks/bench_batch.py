"""Benchmark ``recist-tool batch`` on cohorts of any size, against its floor and its peer.

Everything is measured in one run, each figure next to the floor or peer it is
compared with (the machine is shared and noisy: medians and the range of N runs):

1. 100,000 patients (3.9 M rows, targets with a ``mean_hu``): ``recist-tool batch``
   end to end (a child process: start-up, index pass, reading and checking every row,
   the engine, writing every table and ``endpoints.csv``) with RECIST 1.1 alone and
   with all three criteria (``--criteria recist,irecist,choi``), against the floor,
   ``floor_target_rule.py`` (pyarrow + numpy, just the target rule), in interleaved
   rounds; with ``--previous DIR`` (a checkout of an earlier version of this
   repository) that version's batch runs on the same file in the same rounds. Rows per
   second, peak RSS, paired ratios. The outputs with chunks of 1,000 and of 100,000
   patients (one chunk) must be the same bytes (every table, endpoints.csv and
   settings.json).
2. 1,000,000 patients (39 M rows, 2.4 GB of CSV), the same two, plus the same rows as
   Parquet (``recist-tool batch cohort.parquet``) and the reading alone (index pass and
   every chunk read, in this process) from CSV and from Parquet; and the line
   bookkeeping: the former three ``find`` passes against the one vectorised scan.
3. The target-only part of a 2,000-patient cohort through ``recist-tool batch`` and
   through pyrecist (PyPI, ``python -m pyrecist``), the only other RECIST package.
4. ``--ten-million``: 10,000,000 patients (390 M rows, 24 GB of CSV, written for the
   run and deleted after it): wall time and peak RSS of one run.

Input files are read right before each timed run and their page-cache residency
(``fincore``) printed: these VMs drop idle page cache within a minute.

Usage: ``python benchmarks/bench_batch.py [--patients N] [--million N] [--repeat 3]
[--peer-patients 2000] [--previous DIR] [--ten-million]``; ``--million 0`` skips part 2.
Data go to ``benchmarks/_data/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
EXE = Path(sys.executable).with_name("recist-tool")
FLOOR = HERE / "floor_target_rule.py"
BLOCK = 100_000  # patients generated at a time


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
    size = np.round(base[rows_les] * np.exp(trend + noise), 1)
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
    hu = np.where(
        tgt & (status == "measured"), np.round(rng.normal(60, 15, len(rows_les)), 1), np.nan
    )
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
            "mean_hu": pa.array(hu, mask=np.isnan(hu)),
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
                        "mean_hu": pa.nulls(len(new_p), pa.float64()),
                    }
                ),
            ]
        )
    return table


def write_cohort(n_patients: int, path: Path, parquet: Path | None = None) -> None:
    """Write a cohort block by block (bounded memory); optionally the same rows as Parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    writer = None
    with tmp.open("wb") as fh:
        for k, lo in enumerate(range(0, n_patients, BLOCK)):
            t = _renumbered(make_cohort(min(BLOCK, n_patients - lo), seed=1 + k), lo)
            if k == 0:
                fh.write((",".join(t.column_names) + "\n").encode())
            pacsv.write_csv(t, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))
            if parquet is not None:
                if writer is None:
                    writer = pq.ParquetWriter(parquet, t.schema, compression="zstd")
                writer.write_table(t, row_group_size=1 << 20)
    if writer is not None:
        writer.close()
    tmp.rename(path)


def _renumbered(t: pa.Table, offset: int) -> pa.Table:
    """Patient ids P<i> become P<i + offset> (blocks of one cohort)."""
    if not offset:
        return t
    num = pc.cast(pc.utf8_slice_codeunits(t["patient_id"], 1), pa.int64())
    ids = pc.binary_join_element_wise("P", pc.cast(pc.add(num, offset), pa.string()), "")
    return t.set_column(0, "patient_id", ids)


def repeat_cohort(src: Path, times: int, per_copy: int, dest: Path) -> None:
    """``times`` copies of a cohort file with patient ids shifted: a big cohort, quickly."""
    table = pacsv.read_csv(src, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    with dest.open("wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode())
        for k in range(times):
            t = _renumbered(table, k * per_copy)
            for batch in t.to_batches(max_chunksize=1 << 20):
                pacsv.write_csv(
                    pa.Table.from_batches([batch]),
                    fh,
                    pacsv.WriteOptions(include_header=False, quoting_style="none"),
                )


def warm(*paths: Path) -> str:
    """Read the files (page cache) and report their residency with fincore."""
    for p in paths:
        with p.open("rb") as fh:
            while fh.read(64 << 20):
                pass
    if shutil.which("fincore") is None:
        return "fincore not installed"
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES,SIZE", *map(str, paths)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    res = [line.split() for line in out.stdout.splitlines() if line.strip()]
    cached = sum(int(r[0]) for r in res)
    total = sum(int(r[1]) for r in res)
    return f"{100 * cached / max(total, 1):.0f} % of {total / 1e9:.2f} GB in page cache"


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a child process; its CPU seconds (user + system,
    every thread) go to ``timed.cpu``: steadier than wall time on a loaded machine."""
    t0 = time.perf_counter()
    wrapper = (
        "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print(u.ru_utime + u.ru_stime); print(u.ru_maxrss); sys.exit(r.returncode)"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed:\n{out.stderr[-2000:]}")
    cpu, peak = out.stdout.strip().splitlines()[-2:]
    timed.cpu = float(cpu)
    return wall, int(peak) / 1024


timed.cpu = float("nan")


def spread(values: list[float], unit: str = "s") -> str:
    v = sorted(values)
    return f"{statistics.median(v):.2f} {unit} [{v[0]:.2f}–{v[-1]:.2f}]"


def alternate(commands: dict, repeat: int, files: list[Path]) -> dict:
    """Run the commands in turn, ``repeat`` rounds; wall times and peak RSS by name.

    A command is an argument list, or ``(arguments, working folder)``.
    """
    out = {name: {"wall": [], "rss": [], "cpu": []} for name in commands}
    for _ in range(repeat):
        for name, cmd in commands.items():
            cmd, cwd = cmd if isinstance(cmd, tuple) else (cmd, None)
            warm(*files)
            w, r = timed(cmd, cwd)
            out[name]["wall"].append(w)
            out[name]["rss"].append(r)
            out[name]["cpu"].append(timed.cpu)
    return out


def same_outputs(a: Path, b: Path) -> bool:
    names = ("timepoints.csv", "patients.csv", "messages.csv", "endpoints.csv", "settings.json")
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def read_only(path: Path) -> float:
    """Seconds to index a cohort and read every chunk (no checks, no engine), in process."""
    from recist_tool.partition import index_cohort, read_chunk

    t0 = time.perf_counter()
    plan = index_cohort(path).plan()
    rows = sum(read_chunk(plan.chunk(k)).num_rows for k in range(len(plan)))
    assert rows > 0
    return time.perf_counter() - t0


def old_line_bookkeeping(path: Path) -> float:
    """The former line-number check: three find passes over the memory-mapped file."""
    import mmap

    t0 = time.perf_counter()
    with path.open("rb") as fh:
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        end = len(data)
        [data.find(s, 0, end) for s in (b"\n\n", b"\n\r\n", b'"')]
        data.close()
    return time.perf_counter() - t0


def new_line_bookkeeping(path: Path) -> float:
    """Now: one vectorised scan that yields record offsets and line numbers."""
    import mmap

    from recist_tool._csvscan import blocks

    t0 = time.perf_counter()
    with path.open("rb") as fh:
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        n = sum(len(rec.starts) for _, rec in blocks(data, 0, len(data), 32 << 20, 16 << 20))
        del n
    return time.perf_counter() - t0


def pyrecist_input(table: pa.Table, path: Path) -> pa.Table:
    """The target-only part of a cohort in pyrecist's columns."""
    t = table.filter(pc.equal(table["kind"], "target"))
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


def batch_cmd(src: Path, out: str, *extra: str) -> list[str]:
    return [str(EXE), "batch", str(src), "-o", str(DATA / out), "-q", *extra]


def floor_cmd(src: Path) -> list[str]:
    return [sys.executable, str(FLOOR), str(src), str(DATA / "floor_out.csv")]


def report_pair(title: str, rows: int, res: dict, ours: str, floor: str) -> None:
    w_o, w_f = res[ours]["wall"], res[floor]["wall"]
    ratios = [a / b for a, b in zip(w_o, w_f, strict=True)]
    print(f"\n{title}: {rows:,} rows")
    for name in res:
        med = statistics.median(res[name]["wall"])
        cpu = statistics.median(res[name]["cpu"])
        print(
            f"  {name:<28} {spread(res[name]['wall'])}  {rows / med:>12,.0f} rows/s  "
            f"peak RSS {max(res[name]['rss']):,.0f} MB  CPU {cpu:.2f} s "
            f"({rows / cpu:,.0f} rows per CPU-second)"
        )
    print(f"  {ours} / {floor}: median of the paired ratios {statistics.median(ratios):.2f} "
          f"[{min(ratios):.2f}–{max(ratios):.2f}]")  # fmt: skip


def paired(res: dict, a: str, b: str) -> None:
    """The median (and range) of the paired ratios of two commands' wall times."""
    ratios = [x / y for x, y in zip(res[a]["wall"], res[b]["wall"], strict=True)]
    print(f"  {a} / {b}: median of the paired ratios {statistics.median(ratios):.2f} "
          f"[{min(ratios):.2f}–{max(ratios):.2f}]")  # fmt: skip


def n_rows(path: Path) -> int:
    from recist_tool.partition import index_cohort

    return index_cohort(path).n_rows


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--million", type=int, default=1_000_000, help="the large cohort (0: skip)")
    ap.add_argument("--peer-patients", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each timed command")
    ap.add_argument(
        "--million-repeat", type=int, help="runs of each 1 M command (default: --repeat)"
    )
    ap.add_argument("--ten-million", action="store_true", help="also run 10 M patients once")
    ap.add_argument(
        "--previous",
        type=Path,
        help="checkout of an earlier version: its recist_tool runs on the 100k file in the "
        "same rounds",
    )
    args = ap.parse_args()
    print(f"cpu count {os.cpu_count()}, load average {load()}")

    # 1. 100k: RECIST alone and all three criteria, against the floor (and an earlier
    #    version), interleaved; then the byte identity across chunk sizes.
    small = DATA / f"cohort_{args.patients}.csv"
    if not small.exists():
        write_cohort(args.patients, small)
    rows = n_rows(small)
    print(f"\n{small.name}: {small.stat().st_size / 1e6:.0f} MB, {warm(small)}")
    ours, floor = "RECIST 1.1", "floor (target rule)"
    commands = {
        ours: batch_cmd(small, "out_small"),
        "RECIST + iRECIST + Choi": batch_cmd(small, "out_all", "--criteria", "recist,irecist,choi"),
        floor: floor_cmd(small),
    }
    if args.previous is not None:
        # run from the checkout: ``python -m`` puts it first on sys.path
        commands["previous version, RECIST 1.1"] = (
            [sys.executable, "-m", "recist_tool", "batch", str(small), "-o",
             str(DATA / "out_prev"), "-q"],
            args.previous.resolve(),
        )  # fmt: skip
    res = alternate(commands, args.repeat, [small])
    report_pair(f"{args.patients:,} patients", rows, res, ours, floor)
    if args.previous is not None:
        paired(res, ours, "previous version, RECIST 1.1")
    paired(res, "RECIST + iRECIST + Choi", ours)
    w1, r1 = timed(batch_cmd(small, "out_1k", "--chunk-patients", "1000"))
    one = ["--chunk-patients", str(args.patients), "--chunk-rows", str(10**9)]
    w2, r2 = timed(batch_cmd(small, "out_one", *one))
    print(
        f"  chunks of 1,000 patients: {w1:.2f} s, peak RSS {r1:,.0f} MB; one chunk of "
        f"{args.patients:,}: {w2:.2f} s, peak RSS {r2:,.0f} MB; outputs byte-identical: "
        f"{same_outputs(DATA / 'out_1k', DATA / 'out_one')} "
        f"(and with the default chunks: {same_outputs(DATA / 'out_small', DATA / 'out_one')})"
    )

    # 2. 1M: ours vs the floor, CSV vs Parquet, reading alone, line bookkeeping.
    if args.million:
        big = DATA / f"cohort_{args.million}.csv"
        big_pq = DATA / f"cohort_{args.million}.parquet"
        if not big.exists() or not big_pq.exists():
            t0 = time.perf_counter()
            write_cohort(args.million, big, big_pq)
            print(f"\ngenerated {big.name} and {big_pq.name} in {time.perf_counter() - t0:.0f} s")
        rows = n_rows(big_pq)
        print(f"\n{big.name}: {big.stat().st_size / 1e9:.2f} GB, {warm(big)}; "
              f"{big_pq.name}: {big_pq.stat().st_size / 1e9:.2f} GB")  # fmt: skip
        res = alternate(
            {
                "recist-tool batch (CSV)": batch_cmd(big, "out_big"),
                "floor (target rule)": floor_cmd(big),
                "recist-tool batch (Parquet)": batch_cmd(big_pq, "out_big_pq"),
            },
            args.million_repeat or args.repeat,
            [big, big_pq],
        )
        report_pair(f"{args.million:,} patients", rows, res, "recist-tool batch (CSV)",
                    "floor (target rule)")  # fmt: skip
        print(f"  Parquet input gives the CSV input's bytes: "
              f"{same_outputs(DATA / 'out_big', DATA / 'out_big_pq')}")  # fmt: skip
        reads = {"CSV": [], "Parquet": []}
        olds, news = [], []
        for _ in range(args.million_repeat or args.repeat):
            warm(big, big_pq)
            reads["CSV"].append(read_only(big))
            reads["Parquet"].append(read_only(big_pq))
            warm(big)
            olds.append(old_line_bookkeeping(big))
            news.append(new_line_bookkeeping(big))
        ratio = statistics.median(reads["CSV"]) / statistics.median(reads["Parquet"])
        print(f"  reading alone (index pass + every chunk read), CSV {spread(reads['CSV'])}, "
              f"Parquet {spread(reads['Parquet'])}: Parquet {ratio:.1f}x faster")  # fmt: skip
        print(f"  line bookkeeping: former three find passes {spread(olds)}; the one scan "
              f"(offsets and lines, replacing them and the separate offset pass) "
              f"{spread(news)}")  # fmt: skip

    # 3. pyrecist, the peer, on the target-only part of a small cohort.
    table = make_cohort(args.peer_patients, seed=2)
    mine = DATA / f"peer_ours_{args.peer_patients}.csv"
    theirs = DATA / f"peer_pyrecist_{args.peer_patients}.csv"
    targets = pyrecist_input(table, theirs)
    with mine.open("wb") as fh:
        fh.write((",".join(targets.column_names) + "\n").encode())
        pacsv.write_csv(targets, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    res = alternate(
        {
            "recist-tool batch": batch_cmd(mine, "out_ours"),
            "pyrecist": [sys.executable, "-m", "pyrecist", str(theirs), "-o", str(DATA)],
        },
        args.repeat,
        [mine, theirs],
    )
    report_pair(f"target-only, {args.peer_patients:,} patients", targets.num_rows, res,
                "pyrecist", "recist-tool batch")  # fmt: skip

    # 4. 10 M patients, once.
    if args.ten_million:
        base = DATA / f"cohort_{args.million}.csv"
        huge = DATA / "cohort_10000000.csv"
        t0 = time.perf_counter()
        repeat_cohort(base, 10, args.million, huge)
        print(f"\n10,000,000 patients: wrote {huge.stat().st_size / 1e9:.1f} GB in "
              f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
        try:
            w, r = timed(batch_cmd(huge, "out_huge"))
            lines = sum(1 for _ in (DATA / "out_huge" / "patients.csv").open("rb")) - 1
            print(f"  recist-tool batch: {w:.0f} s, peak RSS {r:,.0f} MB, {lines:,} patients out")
        finally:
            huge.unlink(missing_ok=True)
    print(f"\nload average at the end: {load()}")


if __name__ == "__main__":
    main()
