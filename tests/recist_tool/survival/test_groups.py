"""Response groupings, values known at a time, and the time-varying data layout."""

from __future__ import annotations

import pandas as pd
import pytest

from recist_tool.survival.cox import DAYS_PER_MONTH, long_format
from recist_tool.survival.groups import (
    PredictorError,
    build_predictors,
    design,
    group_responses,
    km_groups,
)
from recist_tool.survival.inputs import read_inputs


def test_groupings():
    r = pd.Series(["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", None])
    assert group_responses(r, "three").tolist()[:5] == [
        "response",
        "response",
        "stable",
        "stable",
        "progression",
    ]
    assert group_responses(r, "three").isna().tolist()[5:] == [True, True]
    assert group_responses(r, "control").tolist()[:5] == ["response+stable"] * 4 + ["progression"]
    assert group_responses(r, "response").tolist()[:5] == ["response"] * 2 + ["no response"] * 3
    with pytest.raises(PredictorError, match="unknown grouping 'x'"):
        group_responses(r, "x")


def test_predictors_known_at_landmark(small_study):
    inp = read_inputs(small_study["clinical"], small_study["responses"], small_study["treatments"])
    preds = build_predictors(inp)
    assert list(preds) == ["imaging_response", "symptomatic_response", "n_treatments"]
    img = preds["imaging_response"]
    assert img.values.dropna().to_dict() == {
        "P1": "response",
        "P3": "stable",
        "P4": "progression",
        "P6": "response",
    }
    assert img.values[["P2", "P5"]].isna().all()  # no CT follow-up: missing
    # CT on day 84: before it, everyone counts in the reference level.
    assert img.at(80).dropna().unique().tolist() == ["progression"]
    assert img.at(84)["P1"] == "response"
    sym = preds["symptomatic_response"]
    assert sym.at(100)["P3"] == "no"  # yes only from day 121
    assert sym.at(121)["P3"] == "yes"
    n = preds["n_treatments"]
    assert n.values[["P3", "P6", "P1"]].tolist() == [2, 2, 1]
    assert n.at(91.3)[["P3", "P6"]].tolist() == [1, 1]
    assert n.at(213)[["P3", "P6"]].tolist() == [2, 2]
    with pytest.raises(PredictorError, match="unknown predictor 'age'"):
        build_predictors(inp, ["age"])


def test_km_groups_and_design(small_study):
    inp = read_inputs(small_study["clinical"], small_study["responses"], small_study["treatments"])
    preds = build_predictors(inp, grouping="control")
    g, order = km_groups(preds["n_treatments"], preds["n_treatments"].values)
    assert order == ("> 1", "<= 1")
    assert g[["P3", "P1"]].tolist() == ["> 1", "<= 1"]
    x = design(preds["imaging_response"], preds["imaging_response"].values)
    assert list(x.columns) == ["imaging_response: response+stable vs progression"]
    assert x.loc[["P1", "P4"]].iloc[:, 0].tolist() == [1.0, 0.0]
    assert x.loc[["P2"]].isna().all().all()


def test_long_format_intervals(small_study):
    inp = read_inputs(small_study["clinical"], small_study["responses"], small_study["treatments"])
    preds = build_predictors(inp, ["imaging_response", "n_treatments"])
    days = inp.clinical["os_days"].loc[["P3", "P4"]]
    event = inp.clinical["death"].loc[["P3", "P4"]]
    long = long_format(days, event, preds)
    p3 = long[long["_id"] == "P3"]
    # P3: CT (stable) on day 84, 2nd treatment on day 213, alive at day 500.
    assert (p3["_start"] * DAYS_PER_MONTH).round(6).tolist() == [0, 84, 213]
    assert (p3["_stop"] * DAYS_PER_MONTH).round(6).tolist() == [84, 213, 500]
    assert p3["_event"].tolist() == [0, 0, 0]
    assert p3["n_treatments"].tolist() == [1, 1, 2]
    assert p3["imaging_response: stable vs progression"].tolist() == [0, 1, 1]
    p4 = long[long["_id"] == "P4"]
    assert p4["_event"].tolist() == [0, 1]  # death on day 200, in the last interval
    assert p4["imaging_response: stable vs progression"].tolist() == [0, 0]


def test_free_text_and_date_columns_are_not_default_predictors(small_study):
    path = small_study["clinical"]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["comment"] = ["a", "b", "c", "d", "e", "f"]
    frame["empty"] = ""
    frame["diagnosis_date"] = "2019-01-01"
    frame["age"] = ["60", "70", "65", "", "80", "55"]
    frame.to_csv(path, index=False)
    inp = read_inputs(path)
    notes: list[str] = []
    preds = build_predictors(inp, notes=notes)
    assert list(preds) == ["symptomatic_response", "age"]
    assert "comment" in notes[0] and "empty" in notes[0]
    assert preds["age"].kind == "numeric"
    g, order = km_groups(preds["age"], preds["age"].values)
    assert order == ("> 65", "<= 65")  # median of 55, 60, 65, 70, 80
    assert g.isna().sum() == 1
    # Asked for by name, a text column is used.
    assert "comment" in build_predictors(inp, ["comment"])


def test_km_groups_of_numbers():
    from recist_tool.survival.groups import Predictor

    binary = pd.Series([0, 1, 1, 1, None], dtype=float)
    g, order = km_groups(Predictor("x", "numeric", binary), binary)
    assert order == ("1", "0")
    assert g.tolist()[:4] == ["0", "1", "1", "1"] and pd.isna(g.iloc[4])
    skewed = pd.Series([1, 2, 5, 5, 5.0])
    g, order = km_groups(Predictor("y", "numeric", skewed), skewed)
    assert order == (">= 5", "< 5")
    assert g.tolist() == ["< 5", "< 5", ">= 5", ">= 5", ">= 5"]
