"""Small hand-made survival inputs (clinical.csv, patients.csv, treatments.csv)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recist_tool.survival.inputs import RESPONSE_COLUMNS


def lifelines_km(time, event):
    """lifelines' ``KaplanMeierFitter`` (log-log band): the reference our
    :class:`~recist_tool.survival.km.KaplanMeier` is held to."""
    import numpy as np
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter().fit(np.asarray(time, float), np.asarray(event, bool))


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    return path


def response_row(
    pid: str, baseline: str, ff: str, resp: str, prog: str = "", pfs_days: int = 0, event: int = 0
) -> dict:
    return {
        "patient_id": pid,
        "baseline_date": baseline,
        "n_targets": 1,
        "baseline_sum_mm": 40,
        "best_overall_response": resp,
        "best_response_date": ff,
        "best_change_pct": 0,
        "first_followup_date": ff,
        "first_followup_response": resp,
        "progression_date": prog,
        "pfs_days": pfs_days,
        "pfs_event": event,
    }


@pytest.fixture
def small_study(tmp_path: Path) -> dict[str, Path]:
    """Six patients, treatment on 2020-01-01; hand-checkable follow-up.

    OS days: P1 300 death, P2 60 death (before the 3-month landmark), P3 500 alive,
    P4 200 death, P5 80 alive (censored before the landmark), P6 400 death.
    """
    t0 = "2020-01-01"
    clinical = [
        {
            "patient_id": "P1",
            "treatment_date": t0,
            "last_contact_date": "2020-10-27",
            "death": 1,
            "symptomatic_response": "yes",
            "symptomatic_response_date": "2020-02-01",
        },
        {
            "patient_id": "P2",
            "treatment_date": t0,
            "last_contact_date": "2020-03-01",
            "death": 1,
            "symptomatic_response": "no",
            "symptomatic_response_date": "",
        },
        {
            "patient_id": "P3",
            "treatment_date": t0,
            "last_contact_date": "2021-05-15",
            "death": 0,
            "symptomatic_response": "yes",
            "symptomatic_response_date": "2020-05-01",
        },
        {
            "patient_id": "P4",
            "treatment_date": t0,
            "last_contact_date": "2020-07-19",
            "death": 1,
            "symptomatic_response": "no",
            "symptomatic_response_date": "2020-02-01",
        },
        {
            "patient_id": "P5",
            "treatment_date": t0,
            "last_contact_date": "2020-03-21",
            "death": 0,
            "symptomatic_response": "no",
            "symptomatic_response_date": "",
        },
        {
            "patient_id": "P6",
            "treatment_date": t0,
            "last_contact_date": "2021-02-04",
            "death": 1,
            "symptomatic_response": "yes",
            "symptomatic_response_date": "2020-02-15",
        },
    ]
    responses = [
        response_row("P1", "2019-12-20", "2020-03-25", "PR", "", 200, 0),
        response_row("P3", "2019-12-20", "2020-03-25", "SD", "2020-09-01", 256, 1),
        response_row("P4", "2019-12-20", "2020-03-25", "PD", "2020-03-25", 96, 1),
        response_row("P6", "2019-12-20", "2020-03-25", "CR", "2020-12-01", 347, 1),
    ]
    treatments = [{"patient_id": p, "date": t0} for p in ("P1", "P2", "P3", "P4", "P5", "P6")] + [
        {"patient_id": "P3", "date": "2020-08-01"},
        {"patient_id": "P6", "date": "2020-06-01"},
    ]
    return {
        "clinical": write_csv(tmp_path / "clinical.csv", clinical),
        "responses": write_csv(tmp_path / "patients.csv", responses, list(RESPONSE_COLUMNS)),
        "treatments": write_csv(tmp_path / "treatments.csv", treatments),
    }
