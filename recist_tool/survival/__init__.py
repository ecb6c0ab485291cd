"""Survival analysis linking RECIST response to Kaplan–Meier and Cox models.

Naive (from treatment), landmark and time-varying analyses; see
:func:`recist_tool.survival.pipeline.run_survival`.
"""

from recist_tool.survival.pipeline import (
    SurvivalResult,
    SurvivalSettings,
    run_survival,
    summary_text,
)

__all__ = ["SurvivalResult", "SurvivalSettings", "run_survival", "summary_text"]
