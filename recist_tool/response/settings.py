"""Named settings of the RECIST 1.1 engine, with their defaults.

Every setting is recorded in the outputs (``settings.json`` of a batch run), so a
result can always be traced back to the conventions that produced it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Rounding = Literal["none", "0.1", "1"]


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

    def __post_init__(self) -> None:
        if self.rounding not in ("none", "0.1", "1"):
            raise ValueError(f"rounding must be 'none', '0.1' or '1', not {self.rounding!r}")
        for f in ("sd_min_days", "confirm_days", "max_targets", "max_targets_per_organ"):
            if getattr(self, f) < 0:
                raise ValueError(f"{f} must not be negative")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (for JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResponseSettings:
        """Settings from a dict such as one written by :meth:`to_dict`."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
