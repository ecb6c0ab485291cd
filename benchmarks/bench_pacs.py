"""Benchmark: pulling a 512 × 512 × 300 CT study from a local Orthanc vs reading it from disk.

All in one run, rounds interleaved so that a busy machine slows every method alike,
medians reported:

- ``disk``       — ``recist_tool.dicom.load_series`` on the original files (the files
  are read once just before, so they are in the page cache: warm disk);
- ``disk-cold``  — the same after the files were dropped from the page cache
  (``posix_fadvise(DONTNEED)``, no root needed): the bytes come from the disk;
- ``pull``       — ``recist_tool.pacs.pull_study`` into an empty cache: WADO-RS from
  the local Orthanc (DICOMweb plugin, stored transfer syntax), every instance parsed
  and checked, written to the cache;
- ``pull+load``  — the pull, then ``load_series`` on the cache (what opening a study
  from the PACS costs the first time);
- ``wado``       — the transfer alone: the series streamed from Orthanc and split into
  instances, nothing parsed or written (the floor of any pull from this server);
- ``resume``     — a second pull of the same study (every cached file re-checked,
  nothing fetched).

Goal (issue 13): ``pull`` ≤ 2 × ``disk``. Also timed: the core part of switching to
the next patient of a worklist on the sample study (save the reading, find the next
patient, load its reading, list its series, load both time points) — goal ≤ 1.5 s.

Usage::

    .venv/bin/python benchmarks/bench_pacs.py [--slices 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_load import series_dir  # noqa: E402 - the benchmark series, generated once


def _warm(folder: Path) -> None:
    for f in folder.iterdir():
        f.read_bytes()


def _evict(folder: Path) -> None:
    """Drop the folder's files from the page cache (clean pages: no root needed)."""
    import os

    for f in folder.iterdir():
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_pull(slices: int, rounds: int) -> dict[str, list[float]]:
    from recist_tool.dicom import load_series
    from recist_tool.pacs import PacsClient, pull_study
    from recist_tool.pacs.orthanc import LocalOrthanc

    folder = series_dir("explicit", slices)
    times: dict[str, list[float]] = {
        "disk": [],
        "disk-cold": [],
        "wado": [],
        "pull": [],
        "pull+load": [],
        "resume": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-pacs-") as tmp, LocalOrthanc() as server:
        t0 = time.perf_counter()
        server.upload([folder])
        print(
            f"uploaded {slices} instances to Orthanc in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        client = PacsClient(server.url)
        (study,) = client.find_studies()
        (series,) = client.find_series(study.study_uid)
        cache = Path(tmp) / "cache"
        for r in range(rounds + 1):  # round 0 warms Orthanc's files and Python's imports
            _evict(folder)
            t_cold = _timed(lambda: load_series(str(folder)))
            _warm(folder)
            t_disk = _timed(lambda: load_series(str(folder)))
            t_wado = _timed(
                lambda: sum(map(len, client.iter_series(study.study_uid, series.series_uid)))
            )
            shutil.rmtree(cache, ignore_errors=True)
            t_pull = _timed(lambda: pull_study(client, study.study_uid, cache))
            t_load = _timed(lambda: load_series(str(cache / study.study_uid)))
            t_resume = _timed(lambda: pull_study(client, study.study_uid, cache))
            if r:
                times["disk"].append(t_disk)
                times["disk-cold"].append(t_cold)
                times["wado"].append(t_wado)
                times["pull"].append(t_pull)
                times["pull+load"].append(t_pull + t_load)
                times["resume"].append(t_resume)
        client.close()
    return times


def bench_switch(rounds: int) -> list[float]:
    """Core part of 'Next patient' on a two-patient cohort of the sample study."""
    from recist_tool.dicom import load_series
    from recist_tool.worklist import Worklist, from_folder

    sample = HERE.parent / "sample_dicom"
    out = []
    with tempfile.TemporaryDirectory(prefix="bench-switch-") as tmp:
        src = Path(tmp) / "src"
        for pid in ("P1", "P2"):  # two patients: the sample, copied under two IDs
            for tp in ("baseline", "followup"):
                from pydicom import dcmread

                for f in (sample / tp).glob("*.dcm"):
                    ds = dcmread(f)
                    ds.PatientID = pid
                    ds.StudyInstanceUID = f"{ds.StudyInstanceUID}.{pid[1]}"
                    ds.SeriesInstanceUID = f"{ds.SeriesInstanceUID}.{pid[1]}"
                    (src / pid / tp).mkdir(parents=True, exist_ok=True)
                    ds.save_as(src / pid / tp / f.name)
        wl = Worklist.create(Path(tmp) / "c", from_folder(src), {"kind": "folder"})
        current = wl.load_reading("P1", "alice")
        for _ in range(rounds + 1):
            _warm(src / "P2" / "baseline")
            _warm(src / "P2" / "followup")
            t0 = time.perf_counter()
            wl.save_reading(current, "alice")  # switching saves first
            nxt = wl.next_patient("alice", after="P1")
            reading = wl.load_reading(nxt.patient_id, "alice")
            choices = [c for c in wl.series_to_open(nxt.patient_id) if c.proposed]
            vols = [load_series(c.info.folder, c.info.series_instance_uid) for c in choices]
            out.append(time.perf_counter() - t0)
            assert reading.patient_id == "P2" and len(vols) == 2
    return out[1:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    times = bench_pull(args.slices, args.rounds)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"512 × 512 × {args.slices} int16, explicit VR, {args.rounds} rounds (medians)")
    print(f"{'method':<10} {'median s':>9}  {'runs':<40} {'× disk':>7} {'× cold':>7}")
    for k, v in times.items():
        runs = ", ".join(f"{t:.3f}" for t in v)
        print(
            f"{k:<10} {med[k]:>9.3f}  {runs:<40} {med[k] / med['disk']:>7.2f}"
            f" {med[k] / med['disk-cold']:>7.2f}"
        )
    sw = bench_switch(args.rounds)
    print(
        f"worklist switch (core, sample study): median {statistics.median(sw):.3f} s "
        f"({', '.join(f'{t:.3f}' for t in sw)})"
    )


if __name__ == "__main__":
    main()
