"""Benchmark: loading a 512 × 512 × 300 CT series, recist-tool against its peers.

All in one run, medians of repeated loads (warm cache, local disk):

- ``recist``  — ``recist_tool.dicom.load_series`` (header pass with deferred pixel
  data, ``preadv`` into a preallocated int16 volume, in-place rescale);
- ``sitk``    — SimpleITK ``ImageSeriesReader`` + ``GetArrayFromImage``;
- ``pydicom`` — ``dcmread`` every file, sort by position, stack, rescale to HU;
- ``raw``     — the floor: ``open().read()`` of the same files' bytes.

The same for the RLE and JPEG 2000 (lossless) variants. Each method runs in its
own subprocess so its peak memory (max RSS minus the RSS after imports) is its
own, and methods are interleaved round by round so that a busy machine slows
them alike. Data are generated on demand under ``benchmarks/_data/`` (git-ignored).

Usage::

    .venv/bin/python benchmarks/bench_load.py            # full run, prints the table
    .venv/bin/python benchmarks/bench_load.py --slices 60 --rounds 3   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"


def series_dir(syntax: str, slices: int) -> Path:
    """Generate (once) the benchmark series for ``syntax``; return its folder."""
    folder = DATA / f"ct_{slices}x512x512_{syntax}"
    done = folder / ".complete"
    if not done.exists():
        t0 = time.perf_counter()
        print(f"generating {folder} …", file=sys.stderr, flush=True)
        if syntax == "explicit":
            from recist_tool.synth.phantom import write_series

            write_series(folder, shape=(slices, 512, 512), slice_spacing=1.0, z_center=0.0,
                         seed=7)  # fmt: skip
        else:  # compress the uncompressed series (same pixels, no re-rendering)
            _transcode(series_dir("explicit", slices), folder, syntax)
        done.write_text("ok\n")
        print(f"  {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return folder


def _transcode(src: Path, dst: Path, syntax: str) -> None:
    import recist_tool.dicom  # noqa: F401, I001 - first: guards python-gdcm's import

    import pydicom
    from pydicom.uid import JPEG2000Lossless, RLELossless

    uid = {"rle": RLELossless, "jpeg2000": JPEG2000Lossless}[syntax]
    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        ds.compress(uid, encoding_plugin="pylibjpeg", generate_instance_uid=False)
        ds.save_as(dst / f.name, enforce_file_format=True)


# --------------------------------------------------------------- methods (child side)


def m_recist(folder: str):
    from recist_tool.dicom import load_series

    return load_series(folder).array


def m_sitk(folder: str):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
    return sitk.GetArrayFromImage(reader.Execute())


def m_pydicom(folder: str):
    import numpy as np
    import pydicom

    dss = [pydicom.dcmread(os.path.join(folder, f)) for f in sorted(os.listdir(folder))
           if f.endswith(".dcm")]  # fmt: skip
    dss.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    arr = np.stack([ds.pixel_array for ds in dss]).astype(np.int16)
    arr += np.int16(int(dss[0].RescaleIntercept))
    return arr


def m_raw(folder: str):
    total = 0
    for f in sorted(os.listdir(folder)):
        with open(os.path.join(folder, f), "rb") as fh:
            total += len(fh.read())
    return total


METHODS = {"recist": m_recist, "sitk": m_sitk, "pydicom": m_pydicom, "raw": m_raw}


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1e3  # kB -> MB
    return float("nan")


def child(method: str, folder: str, warmup: int) -> None:
    """Load once (after ``warmup`` untimed loads); print JSON: time and peak memory.

    Peak memory is the process's high-water RSS during the timed load minus its RSS
    just before (the high-water mark is reset through ``/proc/self/clear_refs``).
    """
    import numpy  # noqa: F401 - imports happen before the baseline
    import pydicom  # noqa: F401

    import recist_tool.dicom  # noqa: F401

    if method == "sitk":
        import SimpleITK  # noqa: F401
    for _ in range(warmup):
        METHODS[method](folder)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
    except OSError:
        pass
    base = _status_mb("VmRSS")
    t0 = time.perf_counter()
    out = METHODS[method](folder)
    dt = time.perf_counter() - t0
    peak = _status_mb("VmHWM") - base
    shape = list(getattr(out, "shape", []))
    print(json.dumps({"time": dt, "peak_mb": peak, "shape": shape,
                      "dtype": str(getattr(out, "dtype", "bytes"))}))  # fmt: skip


def run_child(method: str, folder: Path, warmup: int) -> dict:
    res = subprocess.run(
        [sys.executable, __file__, "--child", method, str(folder), "--warmup", str(warmup)],
        capture_output=True, text=True, check=True, cwd=HERE.parent,
    )  # fmt: skip
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (uncompressed)")
    ap.add_argument("--rounds-compressed", type=int, default=2)
    ap.add_argument("--syntaxes", default="explicit,rle,jpeg2000")
    ap.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.warmup)
        return

    vol_mb = args.slices * 512 * 512 * 2 / 1e6
    print(f"volume: {args.slices} × 512 × 512 int16 = {vol_mb:.0f} MB; {os.cpu_count()} CPU(s); "
          f"load average {os.getloadavg()[0]:.1f}; medians over interleaved rounds, "
          "one fresh process per load, warm page cache\n")  # fmt: skip
    rows = []
    for syntax in args.syntaxes.split(","):
        folder = series_dir(syntax, args.slices)
        m_raw(str(folder))  # warm the page cache
        compressed = syntax != "explicit"
        rounds = args.rounds_compressed if compressed else args.rounds
        res: dict[str, list[dict]] = {m: [] for m in METHODS}
        for _ in range(rounds):  # interleave methods so machine load hits all alike
            for m in METHODS:
                res[m].append(run_child(m, folder, 0 if compressed else 1))
        med = {m: statistics.median(r["time"] for r in rs) for m, rs in res.items()}
        for m, rs in res.items():
            peak = statistics.median(r["peak_mb"] for r in rs)
            rows.append((syntax, m, med[m], min(r["time"] for r in rs), med["sitk"] / med[m],
                         med[m] / med["raw"], peak, peak / vol_mb, rs[0]["dtype"]))  # fmt: skip
    head = ("syntax", "method", "median s", "min s", "speed-up vs sitk", "× raw floor",
            "peak MB", "peak / volume", "dtype")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[3]:.3f} | {r[4]:.2f} | {r[5]:.1f} | "
              f"{r[6]:.0f} | {r[7]:.2f} | {r[8]} |")  # fmt: skip
    ours = {r[0]: r for r in rows if r[1] == "recist"}
    if "explicit" in ours:
        r = ours["explicit"]
        print(
            f"\ngoals (uncompressed): ≥ 3× faster than SimpleITK: {r[4]:.2f}× "
            f"{'OK' if r[4] >= 3 else 'MISSED'}; within 6× of raw floor: {r[5]:.1f}× "
            f"{'OK' if r[5] <= 6 else 'MISSED'}; peak < 1.5× volume: {r[7]:.2f}× "
            f"{'OK' if r[7] < 1.5 else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
