"""Issues 13 and 14 together: docs/readers.md's "A cohort read through the worklist",
run as written, with both readers' readings saved through the Worklist API (as the
plugin's worklist panel saves them) in place of its reading step.

synth studies -> worklist init --readers 2 -> readings (Worklist API) -> worklist sign ->
worklist status -> adjudicate -> choose -> worklist status -> agreement ->
batch readings/adjudicated -> survival per reader.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pandas as pd

from recist_tool.annotations import read_annotations
from recist_tool.readers.blinding import visible_readings
from recist_tool.reading import Line, Reading
from recist_tool.reading.audit import read_audit
from recist_tool.worklist import Worklist

from .conftest import run_cli

ROOT = Path(__file__).resolve().parents[3]
COMMON = {"time", "reader", "action", "lesion", "timepoint", "old", "new", "reason"}


def _documented() -> list[str]:
    text = (ROOT / "docs/readers.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- double-read-flow:start -->\n```sh\n(.*?)```", text, re.S)
    assert m, "docs/readers.md lost its double-read-flow block"
    return [ln for ln in m.group(1).splitlines() if ln.strip()]


def _scaled(line: Line, f: float) -> Line:
    mid = [(a + b) / 2 for a, b in zip(line.p1_lps, line.p2_lps, strict=True)]
    ends = [
        tuple(m + (p - m) * f for p, m in zip(q, mid, strict=True))
        for q in (line.p1_lps, line.p2_lps)
    ]
    return Line(ends[0], ends[1], line.series_uid, line.sop_instance_uid, line.slice_index)


def _read_every_patient(demo: Path, reader: str) -> list[str]:
    """The reader works through the worklist: next patient, load, measure, save.

    The measurements are the demo's truth (with its lines); r2 measures 2-6 % apart
    from it, calls DEMO-001's non-target progressed (PR -> PD) and measures
    DEMO-007's follow-up small (SD -> PR).
    """
    wl = Worklist.open(demo / "cohort")
    seen = []
    e = wl.next_patient(reader)
    while e is not None:
        pid = e.patient_id
        fresh = wl.load_reading(pid, reader)  # a new reading has the worklist's time points
        assert [(t.label, t.date) for t in fresh.timepoints] == e.timepoints
        reading = Reading.load(demo / "readings" / f"{pid}.csv")
        reading.rename_timepoint("followup", "fu1")
        if reader == "r2":
            n = int(pid[-3:])
            for k, lesion in enumerate(reading.lesions):
                for tp, finding in lesion.findings.items():
                    f = 1 + 0.02 * (((n + k + (tp == "fu1")) % 5) - 2)
                    f *= 0.75 if (pid, tp) == ("DEMO-007", "fu1") else 1
                    for axis in ("long", "short"):
                        line = getattr(finding, f"{axis}_axis")
                        if line is not None:
                            reading.set_line(lesion.lesion_id, tp, axis, _scaled(line, f))
            if pid == "DEMO-001":
                reading.set_status("NT1", "fu1", "progression")
        path = wl.save_reading(reading, reader)
        assert path == demo / "cohort" / "readings" / reader / f"{pid}.csv"
        seen.append(pid)
        e = wl.next_patient(reader, after=pid)
        if e is not None and e.patient_id in seen:
            break
    return seen


def test_worklist_double_read_flow(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    demo = tmp_path / "demo"
    out: dict[str, list[str]] = {}
    for line in _documented():
        if line.startswith("#"):  # the reading step: both readers, through the worklist
            for reader in ("r1", "r2"):
                assert len(_read_every_patient(demo, reader)) == 10
            wl = Worklist.open(demo / "cohort")
            assert {e.status for e in wl.entries()} == {"in_progress"}
            continue
        args = shlex.split(line)
        assert args[0] == "recist-tool"
        if args[1] == "survival":
            args.append("--no-figures")
        if args[1] == "agreement":
            args.append("--no-figures")
        code, stdout, err = run_cli(monkeypatch, capsys, *args[1:])
        assert code == 0, f"{line}\n{stdout}\n{err}"
        out.setdefault(" ".join(args[1:3]), []).append(stdout)
    cohort = demo / "cohort"

    # The worklist: two readers on every patient, both signed everything.
    wl = Worklist.open(cohort)
    assert wl.progress_by_reader()["r1"]["signed"] == 10
    assert wl.progress_by_reader()["r2"]["signed"] == 10
    assert {e.reader for e in wl.entries(reader="r1")} == {"r1"}  # blinded rows
    assert {p.parent.name for p in visible_readings(cohort, "r1", "reader")} == {"r1"}
    before, after = out["worklist status"]
    assert re.search(r"r1 .*10 of 10", before) and "adjudication" not in before
    assert "adjudication: 2 of 2 discordant patient(s) adjudicated; 10 adjudicated" in after

    # Discordance: DEMO-001 (progression by r2 only) and DEMO-007 (BOR SD vs PR).
    adj = pd.read_csv(cohort / "adjudication.csv", dtype=str).set_index("patient_id")
    assert list(adj.index) == ["DEMO-001", "DEMO-007"]
    assert "progression recorded by one reader only" in adj.loc["DEMO-001", "reasons"]
    assert (adj.loc["DEMO-007", "bor_1"], adj.loc["DEMO-007", "bor_2"]) == ("SD", "PR")
    assert "2 discordant patient(s) awaiting adjudication" in out["adjudicate demo/cohort"][0]

    # The adjudicated readings: the worklist's reading path, provenance, lines, audit.
    assert wl.reading_path("DEMO-001", "adjudicated").is_file()
    rows = read_annotations(wl.reading_path("DEMO-007", "adjudicated"))
    assert set(rows["reader"].astype(str)) == {"r2"}
    assert set(rows["adjudicator"].astype(str)) == {"dr_lee"}
    again = Reading.load(wl.reading_path("DEMO-001", "adjudicated"))  # sidecar: lines kept
    assert again.lesion("L1").findings["baseline"].long_axis is not None
    [rec] = read_audit(cohort / "readings/adjudicated/DEMO-001.audit.jsonl")
    assert set(rec) >= COMMON
    assert (rec["reader"], rec["action"], rec["new"]) == ("dr_lee", "adjudicate", "r1")
    [conc] = read_audit(cohort / "readings/adjudicated/DEMO-002.audit.jsonl")
    assert (conc["reader"], conc["new"]) == ("concordant", "r1")
    # The readers' trails come from the same writer: sign-off entries, same keys.
    trail = read_audit(cohort / "readings/r2/DEMO-001.audit.jsonl")
    assert [(t["action"], t["reader"]) for t in trail] == [("sign", "r2"), ("sign", "r2")]
    assert all(set(t) >= COMMON and t["time"].endswith("Z") for t in trail)

    # Agreement between r1 and r2.
    agreement = pd.read_csv(cohort / "agreement/agreement.csv")
    bor = agreement[agreement["measure"] == "bor"]
    kappa = bor.loc[bor["statistic"] == "kappa", "estimate"].iloc[0]
    assert 0 < kappa < 1 and set(bor["n"]) == {10}

    # The adjudicated cohort: r1's DEMO-001 (PR), r2's DEMO-007 (PR).
    best = pd.read_csv(demo / "out/adjudicated/patients.csv", dtype=str).set_index("patient_id")
    assert len(best) == 10
    assert best.loc["DEMO-001", "best_overall_response"] == "PR"
    assert best.loc["DEMO-007", "best_overall_response"] == "PR"
    assert best.loc["DEMO-003", "best_overall_response"] == "PD"

    # Survival per reader, side by side.
    cox = pd.read_csv(demo / "out/survival/by_source_cox.csv")
    assert set(cox["source"]) == {"r1", "r2", "adjudicated"}
    assert (demo / "out/survival/r1/cox.csv").is_file()
