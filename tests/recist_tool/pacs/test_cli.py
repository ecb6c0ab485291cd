"""``recist-tool pacs`` and the documented PACS flow, run as a user runs them
(subprocesses of the installed console script) against the test Orthanc."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from pydicom import dcmread

from .conftest import PASSWORD, ROOT, USER

BIN = Path(sys.executable).parent


def run(*args, cwd=None, env=None):
    return subprocess.run(
        [str(BIN / "recist-tool"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def user_env(tmp_path: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECIST_PACS")}
    env.update(
        {
            "RECIST_PACS_USER": USER,
            "RECIST_PACS_PASSWORD": PASSWORD,
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        }
    )
    env.update(extra)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_find_pull_push_and_errors(orthanc, tmp_path):
    env = user_env(tmp_path)
    r = run("pacs", "find", orthanc.url, "--patient", "RECIST-SAMPLE-001", "--json", env=env)
    assert r.returncode == 0, r.stderr
    studies = json.loads(r.stdout)
    assert [s["study_date"] for s in studies] == ["2024-01-15", "2024-04-16"]
    uid = studies[1]["study_uid"]
    r = run("pacs", "pull", orthanc.url, uid, "-o", str(tmp_path / "cache"), env=env)
    assert r.returncode == 0, r.stderr
    assert "41 instance(s)" in r.stdout and "41 fetched" in r.stdout and "loadable" in r.stdout
    r = run("pacs", "pull", orthanc.url, uid, "-o", str(tmp_path / "cache"), env=env)
    assert "0 fetched" in r.stdout and "41 already cached" in r.stdout
    r = run("dicom", "ls", str(tmp_path / "cache" / uid), "--json")
    assert json.loads(r.stdout)[0]["frame_count"] == 41

    # errors: one line naming the URL and the status, exit code 2, no traceback
    bad = user_env(tmp_path, RECIST_PACS_PASSWORD="nope")
    r = run("pacs", "find", orthanc.url, env=bad)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{orthanc.url}/studies: HTTP 401 Unauthorized" in r.stderr
    r = run(
        "pacs",
        "pull",
        "http://127.0.0.1:9/dicom-web",
        uid,
        "-o",
        str(tmp_path / "x"),
        "--attempts",
        "1",
        env=env,
    )
    assert r.returncode == 2 and "cannot connect" in r.stderr and "Traceback" not in r.stderr
    r = run("pacs", "find", orthanc.url, "--study-date", "2024-02-30", env=env)
    assert r.returncode == 2 and "not a calendar date" in r.stderr
    r = run("pacs", "push", orthanc.url, str(tmp_path / "missing"), env=env)
    assert r.returncode == 2 and "no such file or folder" in r.stderr


def _documented_flow() -> list[str]:
    text = (ROOT / "docs" / "pacs.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- pacs-flow:start -->(.*?)<!-- pacs-flow:end -->", text, re.S)
    assert block, "docs/pacs.md lost its pacs-flow block"
    return [ln for ln in block.group(1).splitlines() if ln.startswith("recist-tool ")]


def test_the_documented_pacs_flow(orthanc, client, tmp_path):
    """docs/pacs.md's commands, as written, against the test Orthanc (auth on)."""
    env = user_env(tmp_path, PACS=orthanc.url)
    commands = _documented_flow()
    assert len(commands) >= 8
    for cmd in commands:
        r = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", cmd],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, f"{cmd}\n{r.stdout}\n{r.stderr}"
    demo = tmp_path / "demo"
    # the worklist: 5 patients, baseline + one follow-up each, all signed by alice
    with open(demo / "cohort" / "worklist.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["patient_id"] for r in rows] == [f"DEMO-00{i}" for i in range(1, 6)]
    assert {r["status"] for r in rows} == {"signed"} and {r["reader"] for r in rows} == {"alice"}
    assert all(r["timepoints"].startswith("baseline=") and ";fu1=" in r["timepoints"] for r in rows)
    # the batch found the responses the demo cohort was made with
    with open(demo / "results" / "patients.csv", newline="") as fh:
        best = {r["patient_id"]: r["best_overall_response"] for r in csv.DictReader(fh)}
    assert best == {
        "DEMO-001": "PR",
        "DEMO-002": "SD",
        "DEMO-003": "PD",
        "DEMO-004": "PD",
        "DEMO-005": "CR",
    }
    with open(demo / "cohort" / "readings" / "alice" / "DEMO-001.csv", newline="") as fh:
        assert all(r["signed_at"].endswith("Z") for r in csv.DictReader(fh))
    # the SRs are on the PACS, in their images' studies, under the same patient
    for sr_file in sorted((demo / "sr").glob("*.dcm")):
        sr = dcmread(sr_file)
        study = client.study(sr.StudyInstanceUID)
        assert study.patient_id == sr.PatientID and {"CT", "SR"} <= set(study.modalities)
        images = dcmread(next((demo / "dicom" / sr.PatientID).rglob("*.dcm")))
        assert sr.PatientName == images.PatientName
