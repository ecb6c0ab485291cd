"""``recist-tool survival``: success and every error case (exit code 2, clear message)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.recist_tool.cli_helpers import run_cli_captured


def _args(study, out, *extra):
    return [
        "survival",
        "--clinical",
        str(study["clinical"]),
        "--responses",
        str(study["responses"]),
        "--treatments",
        str(study["treatments"]),
        "-o",
        str(out),
        *extra,
    ]


def test_survival_command_runs(monkeypatch, capsys, small_study, tmp_path):
    code, out, err = run_cli_captured(
        monkeypatch,
        capsys,
        *_args(
            small_study,
            tmp_path / "o",
            "--endpoint",
            "os",
            "--endpoint",
            "pfs",
            "--no-figures",
            "--predictor",
            "imaging_response",
            "--landmark-months",
            "2",
            "--rmst-horizon",
            "10",
            "--grouping",
            "control",
        ),
    )
    assert code == 0, err
    assert "OS: n=6, events=4" in out and "PFS: n=4, events=3" in out
    km = pd.read_csv(tmp_path / "o" / "km.csv")
    assert set(km.rmst_horizon_months) == {10.0}
    assert set(km[km.predictor == "imaging_response"].group) == {"response+stable", "progression"}


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--endpoint", "dfs"], "unknown endpoint dfs"),
        (["--predictor", "age"], "unknown predictor 'age'"),
        (["--grouping", "four"], "unknown grouping 'four'"),
        (["--landmark-months", "0"], "--landmark-months must be a positive number"),
        (["--rmst-horizon", "-5"], "--rmst-horizon must be a positive number"),
        (["--figure-format", "png,tiff"], "unknown figure format(s): tiff (expected png, svg"),
    ],
)
def test_bad_options(monkeypatch, capsys, small_study, tmp_path, extra, needle):
    code, _, err = run_cli_captured(
        monkeypatch, capsys, *_args(small_study, tmp_path / "o", *extra)
    )
    assert code == 2
    assert needle in " ".join(err.split())
    assert "Traceback" not in err


def test_missing_required_option(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli_captured(monkeypatch, capsys, "survival", "-o", str(tmp_path / "o"))
    assert code == 2 and "--clinical" in err


def test_missing_file(monkeypatch, capsys, small_study, tmp_path):
    small_study["responses"] = tmp_path / "nope.csv"
    code, _, err = run_cli_captured(monkeypatch, capsys, *_args(small_study, tmp_path / "o"))
    assert code == 2 and "nope.csv: no such file" in err


@pytest.mark.parametrize(
    ("which", "old", "new", "needle"),
    [
        (
            "clinical",
            "2020-10-27",
            "2019-10-27",
            "line 2: column last_contact_date: '2019-10-27': before time zero",
        ),
        ("responses", "P3,", "P33,", "line 3: column patient_id: 'P33': unknown patient"),
        (
            "treatments",
            "P6,2020-06-01",
            "P6,2019-06-01",
            "line 9: column date: '2019-06-01': before time zero",
        ),
        ("clinical", "death", "dead", "missing column(s) death"),
    ],
)
def test_bad_files(monkeypatch, capsys, small_study, tmp_path, which, old, new, needle):
    path = small_study[which]
    path.write_text(path.read_text().replace(old, new, 1))
    code, _, err = run_cli_captured(monkeypatch, capsys, *_args(small_study, tmp_path / "o"))
    assert code == 2
    assert str(path) in err and needle in " ".join(err.split())
    assert not (tmp_path / "o").exists()


def test_pfs_without_responses(monkeypatch, capsys, small_study, tmp_path):
    code, _, err = run_cli_captured(
        monkeypatch,
        capsys,
        "survival",
        "--clinical",
        str(small_study["clinical"]),
        "-o",
        str(tmp_path / "o"),
        "--endpoint",
        "pfs",
    )
    assert code == 2 and "PFS endpoint needs patients.csv" in err


def test_figure_format_option(monkeypatch, capsys, small_study, tmp_path):
    """--figure-format: comma-separated or repeated; only the formats asked for."""
    code, _, err = run_cli_captured(
        monkeypatch, capsys,
        *_args(small_study, tmp_path / "o", "--predictor", "imaging_response", "--no-founding",
               "--figure-format", "pdf,PNG", "--figure-format", "pdf"),
    )  # fmt: skip
    assert code == 0, err
    kinds = {p.suffix for p in (tmp_path / "o").glob("km_*")}
    assert kinds == {".pdf", ".png"}
