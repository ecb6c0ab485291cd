"""De-identification of tables: pseudonyms, date shifts, identifier columns."""

from __future__ import annotations

import pandas as pd
import pytest

from recist_tool.export.deid import DeidentificationError, Deidentifier, drop_identifier_columns


def test_pseudonyms_are_stable_keyed_and_distinct():
    a, b = Deidentifier("secret-one"), Deidentifier("secret-two")
    assert a.pseudonym("HOSP-0001") == Deidentifier("secret-one").pseudonym("HOSP-0001")
    assert a.pseudonym("HOSP-0001") != b.pseudonym("HOSP-0001")
    assert a.pseudonym("HOSP-0001") != a.pseudonym("HOSP-0002")
    assert "0001" not in a.pseudonym("HOSP-0001")
    assert a.uid("1.2.3.4") == a.uid("1.2.3.4") != b.uid("1.2.3.4")
    assert a.uid("1.2.3.4").startswith("2.25.") and len(a.uid("1.2.3.4")) <= 64


def test_secret_is_required():
    with pytest.raises(DeidentificationError, match="secret"):
        Deidentifier("")


def test_dates_shift_per_patient_and_keep_intervals(results):
    deid = Deidentifier("a-long-secret")
    tp = deid.frame(results.timepoints)
    orig = results.timepoints
    for pid in orig["patient_id"].unique():
        o = pd.to_datetime(orig.loc[orig["patient_id"] == pid, "date"])
        n = pd.to_datetime(tp.loc[tp["patient_id"] == deid.pseudonym(pid), "date"])
        shift = (o.to_numpy() - n.to_numpy()).astype("timedelta64[D]").astype(int)
        assert len(set(shift)) == 1 and 1 <= shift[0] <= 365
        assert shift[0] == deid.shift_days(pid)
    assert tp["days_from_baseline"].tolist() == orig["days_from_baseline"].tolist()
    pt = deid.frame(results.patients)
    assert pt["pfs_days"].tolist() == results.patients["pfs_days"].tolist()
    assert (
        pt["progression_date"].isna().tolist()
        == results.patients["progression_date"].isna().tolist()
    )


def test_identifier_columns_never_exported(results):
    ann = results.annotations
    assert {"patient_name", "birth_date", "_source"} <= set(ann.columns)
    clean = drop_identifier_columns(ann)
    assert not {"patient_name", "birth_date", "_source", "_line"} & set(clean.columns)
    deid = Deidentifier("a-long-secret").frame(ann)
    assert not {"patient_name", "birth_date"} & set(deid.columns)
    assert deid["reader"].str.startswith("READER-").all()


def test_free_text_is_scrubbed_and_date_labels_shift():
    deid = Deidentifier("a-long-secret")
    frame = pd.DataFrame(
        {
            "patient_id": ["HOSP-0001"],
            "timepoint": ["2024-01-08"],
            "message": ["HOSP-0001: baseline 2024-01-08 was 40 days before treatment"],
        }
    )
    out = deid.frame(frame)
    shifted = deid.shift_date("2024-01-08", "HOSP-0001")
    assert out["timepoint"].tolist() == [shifted]
    assert out["message"].tolist() == [
        f"{deid.pseudonym('HOSP-0001')}: baseline {shifted} was 40 days before treatment"
    ]
