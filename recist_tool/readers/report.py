"""The agreement section of the cohort report, and the terminal summary of agreement.

:func:`load_agreement` reads an output folder of ``recist-tool agreement``;
:func:`agreement_section_html` and :func:`agreement_pdf_blocks` render it for
:mod:`recist_tool.export.report` (which calls them when an agreement folder is given).
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recist_tool.readers.cohort import ReadersError

_LABELS = {
    ("bor", "kappa"): "Best overall response: Cohen's kappa",
    ("bor", "weighted_kappa_linear"): "Best overall response: weighted kappa (linear)",
    ("timepoint_response", "kappa"): "Response per time point: Cohen's kappa",
    ("timepoint_response", "weighted_kappa_linear"): "Response per time point: weighted kappa",
    ("baseline_sod", "icc_2_1"): "Baseline sum of diameters: ICC(2,1)",
    ("change_first_followup", "icc_2_1"): "% change at first follow-up: ICC(2,1)",
    ("progression", "pd_discordance_rate"): "Progression by one reader only (patients)",
    ("timepoint_response", "pd_discordance_rate"): "PD by one reader only (time points)",
    ("target_choice", "patients_with_different_targets_rate"): "Patients with different targets",
    ("lesion_diameter", "mean_absolute_difference_mm"): "Lesion diameter: mean |difference| (mm)",
    ("lesion_diameter", "coefficient_of_variation_pct"): "Lesion diameter: inter-reader CV (%)",
}


@dataclass
class AgreementOutputs:
    """Tables and figures of a ``recist-tool agreement`` output folder."""

    agreement: pd.DataFrame
    bland_altman: pd.DataFrame
    figures: dict[str, bytes]  # file name -> PNG bytes
    folder: Path


def load_agreement(folder: str | os.PathLike) -> AgreementOutputs:
    """Read ``agreement.csv``, ``bland_altman.csv`` and the PNG plots of a folder.

    Raises
    ------
    ReadersError
        When the folder has no ``agreement.csv``.
    recist_tool._outputs.MixedOutputError
        When the folder's manifest says its files are not all of one run.
    """
    from recist_tool._outputs import check_output_set

    folder = Path(folder)
    path = folder / "agreement.csv"
    if not path.is_file():
        raise ReadersError(
            f"{folder}: no agreement.csv: is this the output folder of 'recist-tool agreement'?"
        )
    check_output_set(folder)  # one run's files, or a clear refusal
    agreement = pd.read_csv(path)
    ba_path = folder / "bland_altman.csv"
    ba = pd.read_csv(ba_path) if ba_path.is_file() else pd.DataFrame()
    figures = {p.name: p.read_bytes() for p in sorted(folder.glob("bland_altman_*.png"))}
    return AgreementOutputs(agreement, ba, figures, folder)


def _fmt(v: float, pct: bool = False) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{100 * v:.1f} %" if pct else f"{v:.3f}"


def headline_table(agreement: pd.DataFrame) -> pd.DataFrame:
    """One row per reader pair and headline statistic: estimate (95 % CI), n."""
    rows = []
    for rec in agreement.to_dict("records"):
        label = _LABELS.get((rec["measure"], rec["statistic"]))
        if label is None:
            continue
        rate = rec["statistic"].endswith("_rate")
        est = _fmt(rec["estimate"], pct=rate)
        if rec["statistic"].endswith("_mm") or rec["statistic"].endswith("_pct"):
            est = f"{rec['estimate']:.2f}" if np.isfinite(rec["estimate"]) else "n/a"
        ci = ""
        interval = "kappa" in rec["statistic"] or rec["statistic"] == "icc_2_1"
        if interval and np.isfinite(rec["ci_low"]):
            ci = f"{_fmt(rec['ci_low'])} to {_fmt(rec['ci_high'])}"
        rows.append(
            {
                "readers": f"{rec['reader_a']} vs {rec['reader_b']}",
                "statistic": label,
                "estimate": est,
                "95 % CI": ci,
                "n": int(rec["n"]),
            }
        )
    return pd.DataFrame(rows, columns=["readers", "statistic", "estimate", "95 % CI", "n"])


def bland_altman_table(ba: pd.DataFrame) -> pd.DataFrame:
    """Bias and limits of agreement per reader pair and measure, as text."""
    rows = []
    for r in ba.to_dict("records"):
        rows.append(
            {
                "readers": f"{r['reader_a']} vs {r['reader_b']}",
                "measure": r["measure"],
                "n": int(r["n"]),
                "bias": f"{r['bias']:+.2f} {r['unit']} ({r['bias_ci_low']:+.2f} to "
                f"{r['bias_ci_high']:+.2f})",
                "limits of agreement": f"{r['loa_low']:+.2f} to {r['loa_high']:+.2f} {r['unit']}",
            }
        )
    return pd.DataFrame(rows, columns=["readers", "measure", "n", "bias", "limits of agreement"])


def agreement_lines(agreement: pd.DataFrame, ba: pd.DataFrame) -> list[str]:
    """A short terminal summary."""
    lines = []
    for r in headline_table(agreement).to_dict("records"):
        ci = f" (95 % CI {r['95 % CI']})" if r["95 % CI"] else ""
        lines.append(f"{r['readers']}: {r['statistic']} {r['estimate']}{ci}, n={r['n']}")
    for r in bland_altman_table(ba).to_dict("records"):
        lines.append(
            f"{r['readers']}: Bland-Altman {r['measure']}: bias {r['bias']}, "
            f"limits {r['limits of agreement']}, n={r['n']}"
        )
    return lines


CAPTION = (
    "Bland–Altman plot: difference between the two readers against their mean; solid "
    "line the bias, dashed lines the 95 % limits of agreement (bias ± 1.96 SD), shaded "
    "bands their 95 % confidence intervals."
)


def agreement_section_html(outputs: AgreementOutputs) -> str:
    """The report's "Inter-reader agreement" section (HTML fragment)."""
    from recist_tool.export.report import img_tag, table_html

    parts = [
        "<h2>Inter-reader agreement</h2>",
        f'<p class="meta">From <code>{html.escape(outputs.folder.name)}</code> '
        "(recist-tool agreement). Kappa: Cohen's, and linearly weighted on CR &lt; PR &lt; "
        "SD &lt; PD (NE left out), asymptotic 95 % CIs; ICC(2,1): two-way random, absolute "
        "agreement, McGraw–Wong 95 % CI.</p>",
        table_html(headline_table(outputs.agreement)),
    ]
    if len(outputs.bland_altman):
        parts += ["<h3>Bland–Altman</h3>", table_html(bland_altman_table(outputs.bland_altman))]
    for name, png in outputs.figures.items():
        parts.append(
            f"<figure>{img_tag(png, name)}<figcaption>{html.escape(CAPTION)} "
            f"({html.escape(name)})</figcaption></figure>"
        )
    return "\n".join(parts)


def agreement_pdf_blocks(outputs: AgreementOutputs) -> list[tuple[str, pd.DataFrame]]:
    """Text-page blocks (heading, table) of the section for the PDF report."""
    blocks = [("Kappa, ICC and discordance rates", headline_table(outputs.agreement))]
    if len(outputs.bland_altman):
        blocks.append(("Bland–Altman", bland_altman_table(outputs.bland_altman)))
    return blocks
