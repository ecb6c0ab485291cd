"""``recist-tool dicom ls / info / sample`` run as a user runs them (subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[3] / "sample_dicom"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "recist_tool", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ls_json_lists_both_sample_series():
    res = run("dicom", "ls", str(SAMPLE), "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    truth = json.loads((SAMPLE / "truth.json").read_text())
    assert [r["series_instance_uid"] for r in rows] == [
        tp["series_instance_uid"] for tp in truth["timepoints"]
    ]
    assert all(r["loadable"] and r["image_count"] == 41 for r in rows)
    assert rows[0]["transfer_syntax"] == "RLE Lossless"


def test_ls_table():
    res = run("dicom", "ls", str(SAMPLE))
    assert res.returncode == 0, res.stderr
    assert "2 series" in res.stdout and "RECIST" in res.stdout


def test_info_json_and_text():
    res = run("dicom", "info", str(SAMPLE / "baseline"), "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["shape_zyx"] == [41, 256, 256] and info["dtype"] == "int16"
    assert info["spacing_zyx_mm"] == [5.0, 1.5, 1.5]
    assert info["direction"] == [1, 0, 0, 0, 1, 0, 0, 0, 1]
    assert info["window_center_width"] == [40, 400]
    assert info["value_range"][0] == -1024
    text = run("dicom", "info", str(SAMPLE / "baseline")).stdout
    assert "41 × 256 × 256" in text and "C 40 / W 400" in text


def test_info_needs_series_choice_and_exits_2():
    res = run("dicom", "info", str(SAMPLE))
    assert res.returncode == 2
    assert "2 series found" in res.stderr and "Traceback" not in res.stderr
    uid = json.loads((SAMPLE / "truth.json").read_text())["timepoints"][1]["series_instance_uid"]
    res = run("dicom", "info", str(SAMPLE), "--series", uid, "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["series_instance_uid"] == uid


def test_errors_exit_2(tmp_path):
    from recist_tool.synth.phantom import write_series

    write_series(tmp_path / "gap", shape=(6, 16, 16), missing=[2])
    res = run("dicom", "info", str(tmp_path / "gap"))
    assert res.returncode == 2 and "missing" in res.stderr
    res = run("dicom", "ls", str(tmp_path / "nothing-here"))
    assert res.returncode == 2 and "no such file or folder" in res.stderr


def test_sample_writes_a_bigger_series(tmp_path):
    res = run("dicom", "sample", "-o", str(tmp_path), "--shape", "6", "40", "40",
              "--syntax", "explicit")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert len(list(tmp_path.glob("*.dcm"))) == 6
    info = json.loads(run("dicom", "info", str(tmp_path), "--json").stdout)
    assert info["shape_zyx"] == [6, 40, 40]
