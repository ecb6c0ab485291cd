"""Blinding policy: a reader sees only their own readings; an adjudicator the discordant."""

from __future__ import annotations

import pytest

from recist_tool.readers.blinding import check_access, may_open, patient_of, visible_readings
from recist_tool.readers.cohort import ReadersError

from .conftest import course, write_reading

D = ["2024-01-01", "2024-03-01"]


def test_reader_and_adjudicator_views(tmp_path):
    c = tmp_path / "cohort"
    for reader in ("ann", "bob"):
        for pid in ("P1", "P2"):
            write_reading(c, reader, pid, course(pid, [40, 30], D))
    (c / "readings/ann/P1.audit.jsonl").write_text("{}\n")
    (c / "adjudication.csv").write_text("patient_id,reasons\nP2,best overall response\n")
    (c / "readings/adjudicated").mkdir()
    (c / "readings/adjudicated/P2.csv").write_text("x")
    assert [p.parent.name + "/" + p.name for p in visible_readings(c, "ann", "reader")] == [
        "ann/P1.csv",
        "ann/P2.csv",
    ]
    assert may_open(c, "ann", "reader", c / "readings/ann/P1.audit.jsonl")
    assert not may_open(c, "ann", "reader", c / "readings/bob/P1.csv")
    assert not may_open(c, "bob", "reader", c / "readings/ann/P1.audit.jsonl")
    assert not may_open(c, "ann", "reader", c / "readings/adjudicated/P2.csv")
    assert not may_open(c, "ann", "reader", c / "adjudication.csv")
    assert not may_open(c, "ann", "reader", c / "agreement/agreement.csv")
    assert may_open(c, "ann", "reader", c / "worklist.csv")
    # Tricks with .. do not get past the check.
    assert not may_open(c, "ann", "reader", c / "readings/ann/../bob/P1.csv")
    seen = [p.parent.name + "/" + p.name for p in visible_readings(c, "dr_lee", "adjudicator")]
    assert seen == ["adjudicated/P2.csv", "ann/P2.csv", "bob/P2.csv"]
    assert may_open(c, "dr_lee", "adjudicator", c / "adjudication.csv")
    with pytest.raises(ReadersError, match="blinded: reader 'bob' may not open"):
        check_access(c, "bob", "reader", c / "readings/ann/P2.json")
    with pytest.raises(ReadersError, match="unknown role"):
        may_open(c, "bob", "boss", c / "x")
    assert patient_of("P.7.recovery.json") == "P.7"
