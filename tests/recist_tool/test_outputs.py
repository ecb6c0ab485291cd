"""Output sets (issue 11): a result folder always holds one run's results.

Batch, survival and export write into a staging folder that is swapped in whole;
a manifest (recist-run.json) lists the run's files and every reader checks it. A
full disk, an error part way or ``kill -9`` leaves the folder as it was; the next
run removes what the interrupted one left behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recist_tool import _atomic, _outputs
from recist_tool._outputs import MANIFEST, check_output_set, output_set
from tests.recist_tool.cli_helpers import run_cli

HEADER = "patient_id,timepoint,date,lesion_id,kind,organ,nodal,long_axis_mm,short_axis_mm,status"
SET = ["endpoints.csv", "messages.csv", "patients.csv", "settings.json", "timepoints.csv", MANIFEST]


def cohort(path: Path, n: int, shrink: float) -> Path:
    """``n`` patients, two time points, two targets; follow-up = baseline × ``shrink``."""
    lines = [HEADER]
    for p in range(n):
        for lid, size in (("L1", 30 + p % 17), ("L2", 20 + p % 5)):
            lines.append(f"P{p},baseline,2024-01-02,{lid},target,liver,false,{size},,measured")
            lines.append(
                f"P{p},fu,2024-04-02,{lid},target,liver,false,{round(size * shrink, 1)},,measured"
            )
    path.write_text("\n".join(lines) + "\n")
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), the manifest left out."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def test_batch_writes_one_set_with_a_manifest_and_keeps_other_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "my notes.txt").write_text("mine")
    (out / "sub").mkdir()
    (out / "sub" / "x.txt").write_text("also mine")
    code, err = run_cli(["batch", str(cohort(tmp_path / "a.csv", 3, 0.5)), "-o", str(out), "-q"])
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted([*SET, "my notes.txt", "sub"])
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["kind"] == "batch" and sorted(manifest["files"]) == sorted(SET[:-1])
    first_run = manifest["run_id"]
    assert check_output_set(out)["run_id"] == first_run
    # a second run replaces the set (its files only), keeps the user's files
    code, err = run_cli(["batch", str(cohort(tmp_path / "b.csv", 4, 1.5)), "-o", str(out), "-q"])
    assert code == 0, err
    assert json.loads((out / MANIFEST).read_text())["run_id"] != first_run
    assert (out / "my notes.txt").read_text() == "mine"
    assert (out / "sub" / "x.txt").read_text() == "also mine"
    assert "P3" in (out / "patients.csv").read_text()
    assert not list(tmp_path.glob(".out.*"))  # no staging folder left


def test_chunked_and_parquet_batch_write_one_verified_set(tmp_path):
    """The chunked writer (issue 16) is the output set: tables appended chunk by chunk
    inside the staging folder, hashed as written; the manifest holds their digests."""
    from recist_tool.batch import run_batch

    src = cohort(tmp_path / "a.csv", 40, 0.5)
    for fmt in ("csv", "parquet"):
        out = tmp_path / fmt
        assert run_batch(src, out, fmt=fmt, chunk_patients=7).n_chunks == 6
        manifest = check_output_set(out)
        tables = ("endpoints", "messages", "patients", "timepoints")
        assert sorted(manifest["files"]) == sorted(
            [*(f"{t}.{fmt}" for t in tables), "settings.json"]
        )
        for name, info in manifest["files"].items():
            data = (out / name).read_bytes()
            assert info == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_readers_refuse_a_folder_of_mixed_runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, shrink in ((a, 0.5), (b, 1.5)):
        src = cohort(tmp_path / f"{folder.name}.csv", 3, shrink)
        assert run_cli(["batch", str(src), "-o", str(folder), "-q"])[0] == 0
    (a / "patients.csv").write_bytes((b / "patients.csv").read_bytes())  # mixed by hand
    code, err = run_cli(["export", "tables", str(a), "-o", str(tmp_path / "x")])
    assert code == 2 and "patients.csv: changed since run" in err, err
    assert not (tmp_path / "x").exists()
    clinical = tmp_path / "c.csv"
    clinical.write_text(
        "patient_id,treatment_date,last_contact_date,death\n"
        + "".join(f"P{i},2024-01-01,2024-09-01,{i % 2}\n" for i in range(3))
    )
    code, err = run_cli(
        ["survival", "--clinical", str(clinical), "--responses",
         str(a / "patients.csv"), "-o", str(tmp_path / "s")]
    )  # fmt: skip
    assert code == 2 and "changed since run" in err, err


def test_an_error_part_way_leaves_the_previous_set(tmp_path):
    out = tmp_path / "out"
    assert run_cli(["batch", str(cohort(tmp_path / "a.csv", 3, 0.5)), "-o", str(out), "-q"])[0] == 0
    before = snapshot(out)
    (out / "messages.csv").unlink()
    (out / "messages.csv").mkdir()  # a folder where the run writes a file
    (out / "messages.csv" / "keep.txt").write_text("x")
    code, err = run_cli(["batch", str(cohort(tmp_path / "b.csv", 4, 1.5)), "-o", str(out), "-q"])
    assert code == 2 and "messages.csv: is a folder" in err and "Traceback" not in err, err
    after = snapshot(out)
    assert after.pop("messages.csv/keep.txt") == b"x"
    assert after == {k: v for k, v in before.items() if k != "messages.csv"}
    assert not list(tmp_path.glob(".out.*"))


@contextlib.contextmanager
def small_disk(tmp_path: Path, size_kib: int):
    """A tmpfs of ``size_kib`` KiB (as root); else None: the disk-full test injects ENOSPC."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    ok = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(mnt)],
            capture_output=True,
        ).returncode
        == 0
    )
    try:
        yield mnt if ok else None
    finally:
        if ok:
            subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize(("command", "n"), [("batch", 2000), ("export tables", 300),
                                             ("export report", 30)])  # fmt: skip
def test_disk_full_is_a_clear_error_and_nothing_partial(tmp_path, monkeypatch, command, n):
    src = cohort(tmp_path / "a.csv", n, 0.5)  # more than 40 KB of results
    with small_disk(tmp_path, 256) as disk:
        if disk is None:  # no tmpfs: writes under DISK report a full disk
            disk = tmp_path / "disk"
            real_fsync = os.fsync

            def full(fd):
                if os.readlink(f"/proc/self/fd/{fd}").startswith(str(disk)):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                real_fsync(fd)

            monkeypatch.setattr(_atomic.os, "fsync", full)
        out = disk / "out"
        out.mkdir()
        (out / "old.txt").write_text("the folder's earlier content")
        if disk.is_mount():
            filler = disk / "filler"
            with open(filler, "wb") as fh, contextlib.suppress(OSError):
                fh.write(b"\0" * (256 - 40) * 1024)  # leave ~40 KB free
        args = {
            "batch": ["batch", str(src), "-o", str(out), "-q"],
            "export tables": ["export", "tables", str(src), "-o", str(out)],
            "export report": ["export", "report", str(src), "-o", str(out)],
        }[command]
        code, err = run_cli(args)
        assert code == 2, err
        assert "the disk is full" in err and "nothing was written" in err, err
        assert "Traceback" not in err
        assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
        assert [p.name for p in disk.iterdir() if p.name.startswith(".")] == []


def test_stale_temporaries_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    src = cohort(tmp_path / "a.csv", 3, 0.5)
    assert run_cli(["batch", str(src), "-o", str(out), "-q"])[0] == 0
    dead = 2**22 + 12345  # above pid_max: no such process
    assert not _atomic.pid_alive(dead)
    stale_tmp = out / f".patients.csv.{dead}.abcd1234.tmp"
    stale_tmp.write_bytes(b"x" * 1000)
    stale_stage = tmp_path / f".out.recist-{dead}-0123abcd.stage"
    stale_stage.mkdir()
    (stale_stage / "timepoints.csv").write_text("half")
    live_tmp = out / f".patients.csv.{os.getpid()}.abcd1234.tmp"  # a live writer's
    live_tmp.write_text("busy")
    assert run_cli(["batch", str(src), "-o", str(out), "-q"])[0] == 0
    assert not stale_tmp.exists() and not stale_stage.exists() and live_tmp.exists()


def test_readings_folder_temporaries_are_removed(tmp_path):
    from recist_tool.annotations import Measurement, write_annotations

    dead = 2**22 + 54321
    stale = tmp_path / f".reading.csv.{dead}.zzzz9999.tmp"
    stale.write_text("x")
    _atomic._cleaned.discard(str(tmp_path))
    write_annotations(
        [Measurement("P1", "bl", "2024-01-01", "L1", "target", "liver", long_axis_mm=10)],
        tmp_path / "reading.csv",
    )
    assert not stale.exists()


def test_interrupted_two_rename_swap_is_repaired(tmp_path, monkeypatch):
    """Where the folders cannot be exchanged atomically, a crash between the two renames
    leaves OUT missing and the previous set aside: the next run puts it back."""
    monkeypatch.setattr(_outputs, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    with output_set(out, "test") as stage:
        (stage / "a.txt").write_text("one")
    assert (out / "a.txt").read_text() == "one"
    dead = 2**22 + 777
    aside = tmp_path / f".out.recist-{dead}-0badcafe.old"
    out.rename(aside)  # as if killed between the two renames
    with output_set(out, "test") as stage:
        assert (out / "a.txt").read_text() == "one"  # repaired before this run writes
        (stage / "a.txt").write_text("two")
    assert (out / "a.txt").read_text() == "two" and not aside.exists()


def test_symlinked_output_folder_stays_a_link(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with output_set(link, "test") as stage:
        (stage / "a.txt").write_text("x")
    assert link.is_symlink() and (real / "a.txt").read_text() == "x"


def test_kill_9_never_leaves_a_mixed_folder(tmp_path):
    """``kill -9`` during ``batch`` runs that alternate between two cohorts — at random
    moments, and while the run writes its files: the folder holds, every time,
    exactly the complete results of one run."""
    srcs = [cohort(tmp_path / "a.csv", 5000, 0.5), cohort(tmp_path / "b.csv", 5000, 1.5)]
    exe = str(Path(sys.executable).with_name("recist-tool"))
    refs = []
    for i, src in enumerate(srcs):  # reference outputs, and how long a run takes
        t = time.perf_counter()
        subprocess.run([exe, "batch", str(src), "-o", str(tmp_path / f"ref{i}"), "-q"], check=True)
        duration = time.perf_counter() - t
        refs.append(snapshot(tmp_path / f"ref{i}"))
    out = tmp_path / "out"
    rng = random.Random(11)
    outcomes = []
    mid_write = 0
    for trial in range(7):
        proc = subprocess.Popen([exe, "batch", str(srcs[trial % 2]), "-o", str(out), "-q"])
        if trial % 2:  # kill while the run writes: as soon as its staging folder exists
            deadline = time.perf_counter() + 3 * duration
            while not list(tmp_path.glob(".out.recist-*.stage")) and proc.poll() is None:
                if time.perf_counter() > deadline:
                    break
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.05))
        else:  # at a random moment of the second half of a run: evaluating, writing
            time.sleep(rng.uniform(0.4, 1.1) * duration)
        killed = proc.poll() is None
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        mid_write += bool(list(tmp_path.glob(f".out.recist-{proc.pid}-*.stage")))  # mid-write
        if out.exists():
            check_output_set(out)
            got = snapshot(out)
            assert got in refs, f"trial {trial}: the folder is not one run's results"
            outcomes.append((killed, refs.index(got)))
        else:
            outcomes.append((killed, None))
    print("kill -9 trials (killed, which run's set):", outcomes, "mid-write:", mid_write)
    assert any(k for k, _ in outcomes) and mid_write, outcomes  # really killed, while writing
    # a clean run afterwards leaves no staging folder or temporary file behind
    subprocess.run([exe, "batch", str(srcs[0]), "-o", str(out), "-q"], check=True)
    assert snapshot(out) == refs[0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert not list(out.glob(".*.tmp"))


def test_output_folder_holding_the_working_directory_is_written_in_place(tmp_path, monkeypatch):
    """``-o .``: swapping the folder would leave the shell in a removed folder."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    inode = out.stat().st_ino
    monkeypatch.chdir(out)
    for shrink in (0.5, 1.5):
        src = cohort(tmp_path / f"{shrink}.csv", 3, shrink)
        assert run_cli(["batch", str(src), "-o", ".", "-q"])[0] == 0
    assert out.stat().st_ino == inode and Path.cwd() == out
    assert sorted(p.name for p in out.iterdir()) == sorted([*SET, "mine.txt"])
    assert check_output_set(out)["kind"] == "batch"
    assert ",PD," in (out / "patients.csv").read_text()  # the second run's (growth)


def test_an_interrupted_in_place_run_is_refused_by_readers(tmp_path):
    out = tmp_path / "out"
    assert run_cli(["batch", str(cohort(tmp_path / "a.csv", 3, 0.5)), "-o", str(out), "-q"])[0] == 0
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**manifest, "incomplete": True}))  # as if killed
    code, err = run_cli(["export", "tables", str(out), "-o", str(tmp_path / "x")])
    assert code == 2 and "was interrupted" in err, err


def test_another_commands_results_are_never_replaced(tmp_path):
    """``export report BATCHDIR -o BATCHDIR`` must not remove the batch results it reads."""
    out = tmp_path / "out"
    assert run_cli(["batch", str(cohort(tmp_path / "a.csv", 3, 0.5)), "-o", str(out), "-q"])[0] == 0
    before = snapshot(out)
    code, err = run_cli(["export", "tables", str(out), "-o", str(out)])
    assert code == 2 and "holds the results of 'batch'" in err, err
    assert snapshot(out) == before
