"""The one audit-trail writer (recist_tool.reading.audit): append-only JSON lines."""

from __future__ import annotations

import json
import multiprocessing
import re
from pathlib import Path

from recist_tool.reading.audit import append_audit, audit_path, read_audit


def test_entries_get_utc_time_and_are_appended_never_rewritten(tmp_path):
    trail = audit_path(tmp_path / "sub" / "P1.csv")
    assert trail == tmp_path / "sub" / "P1.audit.jsonl"
    first = append_audit(trail, {"reader": "ann", "action": "sign", "new": Path("x")})
    assert next(iter(first)) == "time"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["time"])
    text = trail.read_text()
    kept = append_audit(trail, {"time": "2024-01-02T03:04:05Z", "action": "edit", "reason": "é"})
    assert kept["time"] == "2024-01-02T03:04:05Z"
    assert trail.read_text().startswith(text)  # appended
    lines = trail.read_text().splitlines()
    assert [json.loads(ln)["action"] for ln in lines] == ["sign", "edit"]
    assert json.loads(lines[0])["new"] == "x"  # not JSON: written as text
    assert read_audit(trail) == [first | {"new": "x"}, kept]
    assert read_audit(tmp_path / "none.audit.jsonl") == []


def test_a_torn_last_line_does_not_swallow_the_next_entry(tmp_path):
    trail = tmp_path / "P.audit.jsonl"
    append_audit(trail, {"action": "sign"})
    with open(trail, "a") as fh:
        fh.write('{"action": "ed')  # a crash in the middle of a write
    append_audit(trail, {"action": "reopen"})
    assert [r["action"] for r in read_audit(trail)] == ["sign", "reopen"]


def _writer(args):
    path, k = args
    for i in range(40):
        append_audit(path, {"reader": f"w{k}", "action": "edit", "new": i, "pad": "x" * 500})


def test_concurrent_writers_never_interleave_inside_a_line(tmp_path):
    trail = str(tmp_path / "P.audit.jsonl")
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_writer, [(trail, k) for k in range(4)])
    lines = Path(trail).read_text().splitlines()
    assert len(lines) == 160
    recs = [json.loads(ln) for ln in lines]  # every line is whole
    for k in range(4):
        assert [r["new"] for r in recs if r["reader"] == f"w{k}"] == list(range(40))
