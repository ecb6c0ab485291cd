"""The double-read flow exactly as docs/readers.md and the README show it, on a generated
cohort (60 patients instead of 211 to save time; survival without its figures, which
tests of their own cover)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pandas as pd

from .conftest import run_cli

ROOT = Path(__file__).resolve().parents[3]


def _block(text: str, heading: str) -> list[str]:
    """The commands of the first ```sh block after ``heading``."""
    part = text[text.index(heading) :]
    body = re.search(r"```sh\n(.*?)```", part, re.S).group(1)
    return [line for line in body.splitlines() if line.strip() and not line.startswith("#")]


def test_documented_double_read_flow(tmp_path, monkeypatch, capsys):
    docs = _block((ROOT / "docs/readers.md").read_text(), "## End to end")
    readme = _block((ROOT / "README.md").read_text(), "## Several readers")
    assert readme == docs  # the README shows the same flow
    monkeypatch.chdir(tmp_path)
    outputs = {}
    for line in docs:
        args = shlex.split(line)
        assert args[0] == "recist-tool"
        args = args[1:]
        if "--n" in args:
            args[args.index("--n") + 1] = "60"
        if args[0] == "survival":
            args.append("--no-figures")
        code, out, err = run_cli(monkeypatch, capsys, *args)
        assert code == 0, f"{line}\n{out}\n{err}"
        outputs[args[0] + (" " + args[-1] if args[0] == "adjudicate" else "")] = out
    cohort = tmp_path / "cohort"
    adj = pd.read_csv(cohort / "adjudication.csv", dtype=str)
    oracle = pd.read_csv(cohort / "oracle_decisions.csv", dtype=str)
    assert len(adj) > 0
    assert set(adj["patient_id"]) == set(oracle["patient_id"])
    assert "discordant patient(s) awaiting adjudication" in outputs["adjudicate cohort"]
    # Every patient has its adjudicated reading, with provenance.
    done = sorted((cohort / "readings/adjudicated").glob("*.csv"))
    assert len(done) == 60
    rows = pd.concat(pd.read_csv(p, dtype=str) for p in done)
    decided = rows[rows["patient_id"].isin(adj["patient_id"])]
    assert set(decided["adjudicator"]) == {"oracle"}
    assert set(rows.loc[~rows["patient_id"].isin(adj["patient_id"]), "adjudicator"]) == {
        "concordant"
    }
    assert (tmp_path / "out/adjudicated/patients.csv").is_file()
    cox = pd.read_csv(tmp_path / "out/survival/by_source_cox.csv")
    assert set(cox["source"]) == {"reader1", "reader2", "adjudicated"}
    html = (tmp_path / "out/report/cohort_report.html").read_text()
    assert "Inter-reader agreement" in html and "ICC(2,1)" in html
    pdf = subprocess.run(
        ["pdftotext", str(tmp_path / "out/report/cohort_report.pdf"), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "Inter-reader agreement" in pdf and "Bland–Altman" in pdf
    agreement = pd.read_csv(cohort / "agreement/agreement.csv")
    assert {"kappa", "weighted_kappa_linear", "icc_2_1"} <= set(agreement["statistic"])
