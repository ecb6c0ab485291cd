"""Which patients go to adjudication: each charter rule on hand-made double readings."""

from __future__ import annotations

import pandas as pd
import pytest

from recist_tool.readers.cohort import ReadersError, load_cohort
from recist_tool.readers.discordance import AdjudicationRules, find_discordance
from recist_tool.worklist import (
    StudyRow,
    Worklist,
    WorklistError,
    assign_readers,
    propose_timepoints,
)

from .conftest import course, write_reading

D = ["2024-01-01", "2024-03-01", "2024-05-01", "2024-07-01"]


@pytest.fixture
def cohort(tmp_path):
    c = tmp_path / "cohort"
    # P1: both PR -> concordant.
    write_reading(c, "ann", "P1", course("P1", [50, 30, 30], D[:3]))
    write_reading(c, "bob", "P1", course("P1", [52, 32, 31], D[:3]))
    # P2: ann PR (-32 %), bob SD (-28 %): BOR and first follow-up differ.
    write_reading(c, "ann", "P2", course("P2", [50, 34, 34], D[:3]))
    write_reading(c, "bob", "P2", course("P2", [50, 36, 36], D[:3]))
    # P3: BOR PD for both (bob's SD at day 30 is too early to count), progression
    # dates 61 days apart (fu1 vs fu2); first follow-up PD vs SD.
    d3 = ["2024-01-01", "2024-01-31", "2024-04-01"]
    write_reading(c, "ann", "P3", course("P3", [40, 50, 60], d3))
    write_reading(c, "bob", "P3", course("P3", [40, 44, 60], d3))
    # P4: ann progression at fu3, bob none.
    write_reading(c, "ann", "P4", course("P4", [40, 40, 41, 55], D))
    write_reading(c, "bob", "P4", course("P4", [40, 40, 41, 42], D))
    # P5: read by ann only.
    write_reading(c, "ann", "P5", course("P5", [40, 20], D[:2]))
    return c


def test_each_rule_flags_the_right_patients(cohort):
    result = find_discordance(load_cohort(cohort))
    status = result.summary.set_index("patient_id")["status"].to_dict()
    assert status == {
        "P1": "concordant",
        "P2": "discordant",
        "P3": "discordant",
        "P4": "discordant",
        "P5": "single_reader",
    }
    adj = result.adjudication.set_index("patient_id")
    assert list(adj.index) == ["P2", "P3", "P4"]
    assert adj.loc["P2", "reasons"] == "best overall response; first follow-up response"
    assert adj.loc["P3", "reasons"] == (
        "first follow-up response; progression dates 61 days apart (> 28)"
    )
    assert adj.loc["P3", "bor_1"] == adj.loc["P3", "bor_2"] == "PD"
    assert adj.loc["P3", "progression_days_apart"] == 61
    assert adj.loc["P4", "reasons"] == "progression recorded by one reader only"
    # Each reader's values, from the engine.
    assert (adj.loc["P2", "reader_1"], adj.loc["P2", "bor_1"]) == ("ann", "PR")
    assert (adj.loc["P2", "reader_2"], adj.loc["P2", "bor_2"]) == ("bob", "SD")
    assert adj.loc["P3", "progression_date_1"] == "2024-01-31"
    assert adj.loc["P3", "progression_date_2"] == "2024-04-01"
    assert adj.loc["P4", "progression_date_2"] is None or pd.isna(
        adj.loc["P4", "progression_date_2"]
    )


def test_rules_are_configurable(cohort):
    c = load_cohort(cohort)
    wide = find_discordance(c, AdjudicationRules(pd_window_days=61, first_followup=False))
    assert "P3" not in set(wide.adjudication["patient_id"])  # 61 days: within the window
    only_orr = find_discordance(
        c, AdjudicationRules(scale="responder", first_followup=False, progression=False)
    )
    assert list(only_orr.adjudication["patient_id"]) == ["P2"]  # PR vs SD is responder vs not
    control = find_discordance(c, AdjudicationRules(scale="control", progression=False))
    # PR and SD both control disease (P2 agrees); P3 first follow-up PD vs SD does not.
    assert list(control.adjudication["patient_id"]) == ["P3"]
    with pytest.raises(ReadersError, match="unknown comparison scale"):
        AdjudicationRules(scale="loose")


def test_written_files(cohort, tmp_path):
    result = find_discordance(load_cohort(cohort))
    files = result.write(tmp_path / "out")
    assert [f.name for f in files] == [
        "adjudication.csv",
        "concordance.csv",
        "adjudication_rules.json",
    ]
    back = pd.read_csv(files[0], dtype=str)
    assert list(back["patient_id"]) == ["P2", "P3", "P4"]
    assert "pd_window_days" in files[2].read_text()


def test_unfinished_readings_do_not_count(cohort):
    """Statuses come from the cohort's worklist (its API), not from guessed columns."""
    studies = [
        StudyRow(p, f"1.2.{i}.{j}", d)
        for i, p in enumerate(["P1", "P2", "P3", "P4", "P5"], 1)
        for j, d in enumerate(D[:2])
    ]
    pairs = [*assign_readers(["P1", "P2", "P3", "P4"], ["ann", "bob"], 2), ("P5", "ann")]
    pairs.remove(("P4", "bob"))  # bob's reading of P4 was not assigned to him
    wl = Worklist.create(
        cohort, propose_timepoints(studies), {"kind": "folder"}, pairs, replace_existing=True
    )
    # Readings already in the folder are in progress; mark all but bob's P2 done.
    assert {e.status for e in wl.entries()} == {"in_progress"}
    wl.mark_many([pr for pr in pairs if pr != ("P2", "bob")], "done")
    c = load_cohort(cohort)
    assert any("reader bob: 1 unfinished reading(s) left out" in n for n in c.notes)
    assert any("bob: 1 reading(s) of patients not assigned to bob" in n for n in c.notes)
    status = find_discordance(c).summary.set_index("patient_id")["status"]
    assert status["P2"] == "single_reader" and status["P4"] == "discordant"
    again = find_discordance(load_cohort(cohort, include_unfinished=True))
    assert again.summary.set_index("patient_id")["status"]["P2"] == "discordant"
    # A damaged worklist is an error naming the file, not a silent "every reading counts".
    (cohort / "worklist.csv").write_text("patient,reader,status\nP2,bob,in_progress\n")
    with pytest.raises(WorklistError, match=r"worklist\.csv: line 1: missing column"):
        load_cohort(cohort)


def test_layout_errors(tmp_path):
    with pytest.raises(ReadersError, match="no readings folder"):
        load_cohort(tmp_path)
    (tmp_path / "readings" / "adjudicated").mkdir(parents=True)
    with pytest.raises(ReadersError, match="no reader folder"):
        load_cohort(tmp_path)
    write_reading(
        tmp_path, "ann", "P1", course("P1", [40, 30], D[:2]) + course("P9", [40, 30], D[:2])
    )
    with pytest.raises(ReadersError, match="holds 2 patients"):
        load_cohort(tmp_path)
    with pytest.raises(ReadersError, match="no folder for reader"):
        load_cohort(tmp_path, readers=["zed"])
