"""The multi-reader commands from the command line (errors too), survival per source."""

from __future__ import annotations

import pandas as pd
import pytest

from recist_tool._outputs import check_output_set
from recist_tool.batch import run_batch
from recist_tool.survival import SurvivalSettings, run_survival
from recist_tool.survival.by_source import run_survival_by_source
from recist_tool.survival.inputs import SurvivalInputError

from .conftest import course, run_cli, write_reading


def test_adjudicate_cli_choose_and_errors(tmp_path, monkeypatch, capsys):
    c = tmp_path / "cohort"
    d = ["2024-01-01", "2024-03-01"]
    write_reading(c, "ann", "P1", course("P1", [50, 34], d))
    write_reading(c, "bob", "P1", course("P1", [50, 36], d))
    code, out, err = run_cli(monkeypatch, capsys, "adjudicate", str(c), "-o", str(tmp_path / "o"))
    assert code == 0, err
    assert "1 patient(s): 1 discordant" in out and "best overall response" in out
    assert (tmp_path / "o/adjudication.csv").is_file()
    code, out, err = run_cli(
        monkeypatch, capsys, "adjudicate", str(c), "--choose", "P1=bob",
        "--reason", "bob is right", "--adjudicator", "carol",
    )  # fmt: skip
    assert code == 0, err
    assert "adjudicated: 1 decided" in out and "0 discordant patient(s) awaiting" in out
    bad = [
        (["--choose", "P1=bob", "--adjudicator", "carol"], "a reason is required"),
        (["--choose", "P1", "--reason", "x", "--adjudicator", "c"], "expected PATIENT=READER"),
        (["--scale", "loose"], "unknown comparison scale"),
        (["--reader", "zed"], "no folder for reader(s) zed"),
    ]
    for extra, message in bad:
        code, out, err = run_cli(monkeypatch, capsys, "adjudicate", str(c), *extra)
        assert code == 2, (extra, out, err)
        assert message in err and "Traceback" not in err
    code, out, err = run_cli(monkeypatch, capsys, "adjudicate", str(tmp_path / "none"))
    assert code == 2 and "no readings folder" in err
    code, out, err = run_cli(monkeypatch, capsys, "agreement", str(c))
    assert code == 0, err
    assert "Best overall response: Cohen's kappa" in out


def test_agreement_needs_two_readers(tmp_path, monkeypatch, capsys):
    c = tmp_path / "cohort"
    write_reading(c, "ann", "P1", course("P1", [50, 34], ["2024-01-01", "2024-03-01"]))
    code, _out, err = run_cli(monkeypatch, capsys, "agreement", str(c))
    assert code == 2 and "no patient read by two readers" in err


def test_synth_double_read_cli(tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(
        monkeypatch, capsys, "synth", "double-read", "--n", "12", "--readers", "3",
        "-o", str(tmp_path / "c"),
    )  # fmt: skip
    assert code == 0, err
    assert "reader1 (8), reader2 (8), reader3 (8)" in out
    code, out, err = run_cli(
        monkeypatch, capsys, "synth", "double-read", "--n", "5", "--per-patient", "3",
        "-o", str(tmp_path / "d"),
    )  # fmt: skip
    assert code == 2 and "--per-patient 3 is more than --readers 2" in err
    code, out, err = run_cli(monkeypatch, capsys, "synth", "double-read", "-o", str(tmp_path / "c"))
    assert code == 2 and "already holds readings/" in err


def test_survival_by_source_equals_one_run_per_source(double_read, tmp_path):
    folder, _ = double_read
    run_batch(folder / "readings/reader2", tmp_path / "b2")
    settings = SurvivalSettings(endpoints=("os",), predictors=["imaging_response"])
    res = run_survival_by_source(
        folder / "clinical.csv",
        {"reader1": folder / "readings/reader1", "reader2": tmp_path / "b2"},
        None,
        tmp_path / "out",
        settings,
    )
    assert [s.kind for s in res.sources] == ["annotations", "batch folder"]
    single = run_survival(
        folder / "clinical.csv",
        tmp_path / "b2/patients.csv",
        None,
        tmp_path / "single",
        SurvivalSettings(endpoints=("os",), predictors=["imaging_response"], figures=False),
    )
    mine = res.cox[res.cox["source"] == "reader2"].drop(columns="source").reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, single.cox)
    out = tmp_path / "out"
    assert (out / "forest_by_source_os.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "reader1/cox.csv").is_file() and (out / "reader2/km.csv").is_file()
    assert set(pd.read_csv(out / "by_source_logrank.csv")["source"]) == {"reader1", "reader2"}
    # one output set: every source's folder and the combined files appear together
    manifest = check_output_set(out)
    assert manifest["kind"] == "survival"
    assert {"reader1/cox.csv", "reader2/km.csv", "by_source_cox.csv"} <= set(manifest["files"])
    assert check_output_set(out / "reader2")["kind"] == "survival"
    assert {p.parent for p in res.files} == {out}  # final paths, not the staging folder's
    assert {p.parent for p in res.results["reader1"].files} == {out / "reader1"}


def test_survival_sources_cli_errors(double_read, tmp_path, monkeypatch, capsys):
    folder, _ = double_read
    base = ["survival", "--clinical", str(folder / "clinical.csv"), "-o", str(tmp_path / "o")]
    r1 = f"reader1={folder / 'readings/reader1'}"
    cases = [
        ([str(folder / "x.csv"), str(folder / "y.csv")], "name each as NAME=PATH"),
        ([r1, r1], "source 'reader1' given twice"),
        ([f"a={tmp_path / 'missing'}"], "no such file or folder"),
        ([f"a={tmp_path}"], "holds neither patients.csv"),
    ]
    for sources, message in cases:
        args = [*base]
        for s in sources:
            args += ["--responses", s]
        code, _out, err = run_cli(monkeypatch, capsys, *args)
        assert code == 2 and message in err, (sources, err)
    assert not (tmp_path / "o").exists()  # nothing written
    with pytest.raises(SurvivalInputError, match="must be letters"):
        run_survival_by_source(folder / "clinical.csv", {"a b": folder}, None, tmp_path / "x")
