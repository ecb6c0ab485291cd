"""Named settings of the RECIST 1.1 engine, with their defaults.

Every setting is recorded in the outputs (``settings.json`` of a batch run), so a
result can always be traced back to the conventions that produced it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Rounding = Literal["none", "0.1", "1"]
#: Response criteria the engine can evaluate (several at once).
CRITERIA = ("recist", "irecist", "choi")
REFERENCES = ("auto", "baseline", "treatment_date", "randomisation_date")


@dataclass(frozen=True)
class ResponseSettings:
    """Conventions of a RECIST 1.1 evaluation.

    Parameters
    ----------
    sd_min_days : int
        SD (and NON-CR/NON-PD) count towards best overall response only at a time
        point at least this many days after baseline (RECIST 1.1 §4.4; default 42).
    confirm : bool
        Require confirmation of CR/PR (non-randomised trials; default off).
    confirm_days : int
        Minimum interval between a response and its confirmation (default 28).
    max_ne : int
        Under ``confirm``: at most this many NE time points between a response and
        its confirmation (admiralonco's ``max_nr_ne``; default 1).
    accept_sd : bool
        Under ``confirm``: one SD between a PR and its confirmation is accepted
        (admiralonco's ``accept_sd``; default off: an SD breaks the confirmation).
    strict_pr : bool
        Evaluate PR per time point. By default a PR, once assigned, is kept while the
        sum is not PD (working-group FAQ) **[convention]**.
    strict : bool
        Baseline rule violations are errors (the patient is not evaluated) instead of
        warnings.
    rounding : {"none", "0.1", "1"}
        Per-lesion rounding of measurements before summing (half away from zero).
    max_targets, max_targets_per_organ : int
        Baseline limits (5 and 2 in RECIST 1.1).
    baseline_window_days : int
        Baseline scan more than this many days before ``treatment_date`` (optional
        annotation column) gives a warning (28).
    reference_date : {"auto", "baseline", "treatment_date", "randomisation_date"}
        Day 0 of SD duration, PFS, DoR/TTR (RECIST 1.1 §4.6.2). ``auto``: the
        ``randomisation_date`` column when present, else ``treatment_date``, else the
        baseline scan. A patient without a value keeps the baseline scan (warning).
    max_missed : int
        PFS: progression or death after at least this many missed assessments is
        censored at the last adequate assessment (FDA 2018 guidance; default 2).
    visit_interval_days : int or None
        The planned interval between assessments, for ``max_missed``; None: the
        median interval between consecutive assessments of the cohort.
    cbr_min_days : int
        Clinical benefit: an SD-level response counts only at an assessment at least
        this many days after the reference date (168 = 24 weeks).
    criteria : tuple of str
        Criteria evaluated: ``recist`` (always), ``irecist``, ``choi``.
    irecist_confirm_min_days : int
        iRECIST: an assessment earlier than this after the iUPD confirms it (iCPD)
        only through another new lesion (RECIST working group; default 28).
    """

    sd_min_days: int = 42
    confirm: bool = False
    confirm_days: int = 28
    strict_pr: bool = False
    strict: bool = False
    rounding: Rounding = "none"
    max_targets: int = 5
    max_targets_per_organ: int = 2
    baseline_window_days: int = 28
    max_ne: int = 1
    accept_sd: bool = False
    reference_date: str = "auto"
    max_missed: int = 2
    visit_interval_days: int | None = None
    cbr_min_days: int = 168
    criteria: tuple[str, ...] = ("recist",)
    irecist_confirm_min_days: int = 28

    def __post_init__(self) -> None:
        if self.rounding not in ("none", "0.1", "1"):
            raise ValueError(f"rounding must be 'none', '0.1' or '1', not {self.rounding!r}")
        for f in (
            "sd_min_days",
            "confirm_days",
            "max_targets",
            "max_targets_per_organ",
            "max_ne",
            "max_missed",
            "cbr_min_days",
            "irecist_confirm_min_days",
        ):
            if getattr(self, f) < 0:
                raise ValueError(f"{f} must not be negative")
        if self.visit_interval_days is not None and self.visit_interval_days <= 0:
            raise ValueError("visit_interval_days must be positive")
        if self.reference_date not in REFERENCES:
            raise ValueError(
                f"reference_date must be one of {', '.join(REFERENCES)}, "
                f"not {self.reference_date!r}"
            )
        crit = tuple(dict.fromkeys(("recist", *(str(c).lower() for c in self.criteria))))
        bad = [c for c in crit if c not in CRITERIA]
        if bad:
            raise ValueError(f"unknown criteria {', '.join(bad)} (expected {', '.join(CRITERIA)})")
        object.__setattr__(self, "criteria", crit)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (for JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResponseSettings:
        """Settings from a dict such as one written by :meth:`to_dict`."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("criteria"), list):
            values["criteria"] = tuple(values["criteria"])
        return cls(**values)
