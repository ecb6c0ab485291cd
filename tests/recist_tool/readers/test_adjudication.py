"""Writing adjudication results: provenance, audit trail, per-time-point choice, matching."""

from __future__ import annotations

import contextlib
import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recist_tool.annotations import read_annotations
from recist_tool.readers.adjudication import (
    Decision,
    adjudicated_path,
    parse_choice,
    read_decisions,
    write_adjudications,
)
from recist_tool.readers.cohort import ReadersError, load_cohort
from recist_tool.readers.matching import match_lesions
from recist_tool.reading import Line, Reading
from recist_tool.reading.audit import read_audit
from recist_tool.response import evaluate

from .conftest import course, write_reading

D = ["2024-01-01", "2024-03-01", "2024-05-01"]


@pytest.fixture
def cohort(tmp_path):
    c = tmp_path / "cohort"
    write_reading(c, "ann", "P1", course("P1", [50, 34, 34], D))  # PR
    write_reading(c, "bob", "P1", course("P1", [50, 36, 36], D))  # SD
    # P2: bob chose another target (T2 instead of T1).
    write_reading(c, "ann", "P2", course("P2", [40, 30, 30], D))
    write_reading(c, "bob", "P2", course("P2", [40, 30, 30], D, lid="T2"))
    return c


def test_whole_patient_choice_with_provenance_and_audit(cohort):
    d = Decision("P1", "bob", "bob measured on the portal venous phase", "carol")
    [path] = write_adjudications(cohort, [d])
    assert path == adjudicated_path(cohort, "P1") == cohort / "readings/adjudicated/P1.csv"
    rows = read_annotations(path)
    assert set(rows["reader"].astype(str)) == {"bob"}
    assert set(rows["adjudicator"].astype(str)) == {"carol"}
    assert set(rows["adjudication_reason"].astype(str)) == {d.reason}
    assert list(rows["long_axis_mm"]) == [50, 36, 36]  # bob's measurements
    assert evaluate(rows).patients["best_overall_response"].iloc[0] == "SD"
    [rec] = read_audit(path.with_name("P1.audit.jsonl"))
    assert rec["action"] == "adjudicate" and rec["decisions"][0]["reader"] == "bob"
    assert (rec["reader"], rec["new"], rec["old"]) == ("carol", "bob", None)
    assert rec["reason"] == d.reason
    assert rec["time"].endswith("Z") and rec["timepoint"] is None
    assert rec["previous_csv_sha256"] is None
    import hashlib

    assert rec["csv_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    src = cohort / "readings/bob/P1.csv"
    assert rec["source_sha256"]["bob"] == hashlib.sha256(src.read_bytes()).hexdigest()
    # A changed decision appends (never rewrites) the trail.
    first = path.with_name("P1.audit.jsonl").read_text()
    write_adjudications(cohort, [Decision("P1", "ann", "second look: PR", "carol")])
    text = path.with_name("P1.audit.jsonl").read_text()
    assert text.startswith(first)
    recs = read_audit(path.with_name("P1.audit.jsonl"))
    assert len(recs) == 2 and recs[1]["previous_csv_sha256"] == rec["csv_sha256"]
    assert (recs[1]["old"], recs[1]["new"]) == ("bob", "ann")
    assert set(read_annotations(path)["reader"].astype(str)) == {"ann"}
    # Adjudicated readings are not a reader.
    assert load_cohort(cohort).readers == ["ann", "bob"]


def test_per_timepoint_choice_takes_rows_from_each_reader(cohort):
    ds = [
        Decision("P1", "ann", "baseline as ann", "carol", "baseline"),
        Decision("P1", "bob", "fu1 lesion border clearer on bob's series", "carol", "fu1"),
    ]
    [path] = write_adjudications(cohort, ds)
    rows = read_annotations(path)
    by_tp = rows.set_index(rows["timepoint"].astype(str))
    assert by_tp.loc["baseline", "reader"] == "ann" and by_tp.loc["fu1", "reader"] == "bob"
    assert by_tp.loc["fu2", "reader"] == "ann"  # not chosen: the baseline reader's
    assert list(rows["long_axis_mm"]) == [50, 36, 34]
    assert by_tp.loc["fu1", "adjudication_reason"] == ds[1].reason
    assert not path.with_suffix(".json").exists()  # a composite has no sidecar


def test_per_timepoint_choice_refused_when_baselines_differ(cohort):
    ds = [
        Decision("P2", "ann", "r", "carol", "baseline"),
        Decision("P2", "bob", "r", "carol", "fu1"),
    ]
    with pytest.raises(ReadersError, match=r"baseline lesions differ.*choose one reader"):
        write_adjudications(cohort, ds)
    assert not adjudicated_path(cohort, "P2").exists()
    with pytest.raises(ReadersError, match="choose the baseline's reader"):
        write_adjudications(cohort, [Decision("P2", "bob", "r", "carol", "fu1")])


def test_bad_decisions_write_nothing(cohort, tmp_path):
    good = Decision("P1", "bob", "r", "carol")
    with pytest.raises(ReadersError, match="reader 'zed': no finished reading in"):
        write_adjudications(cohort, [good, Decision("P2", "zed", "r", "carol")])
    assert not (cohort / "readings/adjudicated").exists()
    with pytest.raises(ReadersError, match="has no finished reading by 'ann'"):
        write_adjudications(cohort, [Decision("P9", "ann", "r", "carol")])
    with pytest.raises(ReadersError, match="reason is required"):
        parse_choice("P1=bob", "", "carol")
    with pytest.raises(ReadersError, match="adjudicator is required"):
        parse_choice("P1=bob", "why", " ")
    with pytest.raises(ReadersError, match="expected PATIENT=READER"):
        parse_choice("P1", "why", "carol")
    with pytest.raises(ReadersError, match="reserved"):
        parse_choice("P1=adjudicated", "why", "carol")
    assert parse_choice("P 1@fu1=bob", "why", "carol") == Decision(
        "P 1", "bob", "why", "carol", "fu1"
    )
    csv = tmp_path / "d.csv"
    csv.write_text("patient_id,reader,reason\nP1,bob,clearer\nP2,ann,\n")
    with pytest.raises(ReadersError, match=r"d.csv: line 3: a reason is required"):
        read_decisions(csv, "carol")
    csv.write_text("patient_id,timepoint,reader,reason,adjudicator\nP1,fu1,bob,x,dan\n")
    assert read_decisions(csv) == [Decision("P1", "bob", "x", "dan", "fu1")]


def _reading(pid, reader, where, kinds=("target",)):
    r = Reading(patient_id=pid, reader=reader)
    r.set_timepoint("baseline", D[0])
    r.set_timepoint("fu1", D[1])
    for (x, y, z), kind in zip(where, kinds, strict=True):
        les = r.add_lesion(kind, "liver")
        for tp, ld in (("baseline", 30.0), ("fu1", 24.0)):
            r.set_line(les.lesion_id, tp, "long", Line((x, y, z), (x + ld, y, z)))
    return r


def test_geometry_matching_and_sidecar_copy(tmp_path):
    c = tmp_path / "cohort"
    # ann's T1 is at the origin, T2 at 100 mm; bob drew the same lesions the other way
    # round (his T1 is ann's T2), 3 mm off.
    ann = _reading("P1", "ann", [(0, 0, 0), (100, 0, 0)], ("target", "target"))
    bob = _reading("P1", "bob", [(103, 0, 0), (3, 0, 0)], ("target", "target"))
    for r in (ann, bob):
        r.save(c / "readings" / r.reader / "P1.csv")
    m = match_lesions(
        ann.to_frame(), bob.to_frame(), c / "readings/ann/P1.csv", c / "readings/bob/P1.csv"
    )
    assert m.method == "geometry" and m.pairs == {"T1": "T2", "T2": "T1"}
    assert m.distances_mm["T1"] == pytest.approx(3.0)
    # Per time point: bob's fu1 renamed to ann's ids.
    ds = [
        Decision("P1", "ann", "r", "carol", "baseline"),
        Decision("P1", "bob", "r", "carol", "fu1"),
    ]
    [path] = write_adjudications(c, ds)
    rows = pd.read_csv(path, dtype=str)
    fu1 = rows[rows["timepoint"] == "fu1"].set_index("lesion_id")
    assert fu1.loc["T1", "reader_lesion_id"] == "T2" and fu1.loc["T1", "reader"] == "bob"
    # Whole patient: the chosen reading's sidecar comes along, reopening with its lines.
    [path] = write_adjudications(c, [Decision("P1", "bob", "bob's lines", "carol")])
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["adjudication"]["adjudicator"] == "carol" and side["reader"] == "bob"
    back = Reading.load(path)
    assert back.load_notes == []
    assert back.lesion("T1").findings["baseline"].long_axis.p1_lps[0] == pytest.approx(103)


def test_lesions_far_apart_do_not_match(tmp_path):
    c = tmp_path / "cohort"
    ann = _reading("P1", "ann", [(0, 0, 0)])
    bob = _reading("P1", "bob", [(60, 0, 0)])
    for r in (ann, bob):
        r.save(c / "readings" / r.reader / "P1.csv")
    m = match_lesions(
        ann.to_frame(), bob.to_frame(), c / "readings/ann/P1.csv", c / "readings/bob/P1.csv"
    )
    assert m.method == "geometry" and m.pairs == {}
    # CSV only: matched by id.
    m = match_lesions(ann.to_frame(), bob.to_frame())
    assert m.method == "lesion_id" and m.pairs == {"T1": "T1"}


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40), st.text(max_size=10), st.text(max_size=10))
def test_choice_parser_never_fails_otherwise(text, reason, who):
    try:
        d = parse_choice(text, reason, who)
    except ReadersError:
        return
    assert d.reason == reason.strip() and d.adjudicator == who.strip() and d.patient_id


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_decision_and_assignment_files_fail_cleanly(tmp_path_factory, data):
    from recist_tool.worklist import WorklistError, read_assignments

    p = tmp_path_factory.mktemp("fuzz") / "f.csv"
    p.write_bytes(data)
    for reader in (lambda: read_decisions(p, "carol"), lambda: read_assignments(p)):
        with contextlib.suppress(WorklistError):  # (ReadersError is one) anything else fails
            reader()
