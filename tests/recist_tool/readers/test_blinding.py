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


def test_cohort_root_and_access(tmp_path):
    from recist_tool.readers.blinding import Access, cohort_root, reader_of, refusal

    c = tmp_path / "cohort"
    for reader in ("ann", "bob"):
        write_reading(c, reader, "P1", course("P1", [40, 30], D))
    ann, bob = c / "readings/ann/P1.csv", c / "readings/bob/P1.csv"
    assert cohort_root(ann) == c.resolve() and reader_of(bob) == "bob"
    # Not a cohort: outside readings/<folder>/, or a lone folder without a worklist.
    lone = tmp_path / "solo/readings/me/P1.csv"
    lone.parent.mkdir(parents=True)
    lone.write_text("x")
    assert cohort_root(lone) is None and cohort_root(c / "readings/P1.csv") is None
    assert refusal("ann", "reader", lone) == ""
    (tmp_path / "solo/cohort.json").write_text("{}")  # a worklist makes it a cohort
    assert cohort_root(lone) == (tmp_path / "solo").resolve()
    # A link into another reader's folder is seen for what it is.
    link = c / "readings/ann/peek.csv"
    link.symlink_to(bob)
    assert "blinded: reader 'ann'" in refusal("ann", "reader", link)
    assert refusal("ann", "reader", ann) == ""
    assert "not a usable reader name" in refusal("dr ann", "reader", ann)
    acc = Access(c, "ann", "reader")
    assert acc.may_open(ann) and not acc.may_open(bob)
    assert [p.name for p in acc.readings()] == ["P1.csv"]  # the link is bob's file


def test_adjudication_table_runs_discordance_once(tmp_path):
    from recist_tool.readers.discordance import adjudication_table

    c = tmp_path / "cohort"
    write_reading(c, "ann", "P1", course("P1", [40, 30], D))
    write_reading(c, "bob", "P1", course("P1", [40, 60], D))  # PR-ish vs PD
    write_reading(c, "ann", "P2", course("P2", [40, 39], D))
    write_reading(c, "bob", "P2", course("P2", [40, 39], D))
    table, written = adjudication_table(c)
    assert written and list(table["patient_id"]) == ["P1"]
    assert (table.loc[0, "reader_1"], table.loc[0, "reader_2"]) == ("ann", "bob")
    assert (c / "concordance.csv").is_file()
    again, written = adjudication_table(c)
    assert not written and again.equals(table)
    (c / "adjudication.csv").write_text("who\nP1\n")
    with pytest.raises(ReadersError, match="missing column patient_id"):
        adjudication_table(c)
