"""Cohort report: one self-contained HTML file and a PDF.

The HTML embeds every figure as base64 PNG (no external file, no script). The PDF is
drawn with matplotlib's ``PdfPages``: matplotlib already draws the figures, so the
PDF needs no further dependency and no system library (HTML-to-PDF engines such as
WeasyPrint need Pango/Cairo; a browser is not available everywhere).

Contents: software version and response settings; counts per best overall response;
objective response rate (ORR = CR + PR) and disease control rate (DCR = CR + PR +
SD + NON-CR/NON-PD) with exact Clopper–Pearson 95 % confidence intervals (scipy);
waterfall, spider and swimmer plots; validation messages; and, when a survival
output folder is given, its tables and Kaplan–Meier figures.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recist_tool import __version__
from recist_tool._atomic import atomic_write_bytes, atomic_write_text
from recist_tool._outputs import check_output_set
from recist_tool.export import ExportError
from recist_tool.export.tables import Results, settings_rows

BOR_ORDER = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")
ORR_CATEGORIES = ("CR", "PR")
DCR_CATEGORIES = ("CR", "PR", "SD", "NON-CR/NON-PD")
SURVIVAL_TABLES = ("km.csv", "logrank.csv", "cox.csv", "ph_test.csv")

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1000px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:1px solid #ccc;
padding-bottom:.2em;margin-top:1.8em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.meta{color:#555;font-size:.9em}
.note{background:#fff8e1;border-left:4px solid #e69f00;padding:.4em .8em;font-size:.9em}
"""


@dataclass
class Rate:
    """A proportion with its exact (Clopper–Pearson) confidence interval."""

    name: str
    k: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        """The proportion (NaN when ``n`` is 0)."""
        return self.k / self.n if self.n else float("nan")

    def text(self) -> str:
        """E.g. ``3/10 = 30.0 % (95 % CI 6.7–65.2 %)``."""
        if not self.n:
            return f"{self.k}/0 (not estimable)"
        return (
            f"{self.k}/{self.n} = {100 * self.value:.1f} % "
            f"(95 % CI {100 * self.low:.1f}–{100 * self.high:.1f} %)"
        )


def rate(name: str, k: int, n: int, level: float = 0.95) -> Rate:
    """Proportion ``k/n`` with an exact Clopper–Pearson interval (``scipy.stats``)."""
    from scipy.stats import binomtest

    if n == 0:
        return Rate(name, k, n, float("nan"), float("nan"))
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return Rate(name, int(k), int(n), float(ci.low), float(ci.high))


def response_counts(patients: pd.DataFrame) -> pd.DataFrame:
    """Number and share of patients per best overall response (all categories)."""
    bor = patients["best_overall_response"].fillna("").astype(str).str.upper()
    bor = bor.where(bor != "", "NE")
    n = len(bor)
    rows = [(c, int((bor == c).sum())) for c in BOR_ORDER]
    rows += [(c, int((bor == c).sum())) for c in sorted(set(bor) - set(BOR_ORDER))]
    out = pd.DataFrame(rows, columns=["best_overall_response", "patients"])
    out["percent"] = (100.0 * out["patients"] / n).round(1) if n else float("nan")
    return out


def response_rates(patients: pd.DataFrame) -> list[Rate]:
    """ORR and DCR over all patients evaluated (NE counts in the denominator)."""
    bor = patients["best_overall_response"].fillna("").astype(str).str.upper()
    n = len(bor)
    return [
        rate("Objective response rate (CR + PR)", int(bor.isin(ORR_CATEGORIES).sum()), n),
        rate(
            "Disease control rate (CR + PR + SD + NON-CR/NON-PD)",
            int(bor.isin(DCR_CATEGORIES).sum()),
            n,
        ),
    ]


# ----------------------------------------------------------------------------- survival


@dataclass
class SurvivalOutputs:
    """Tables and figures of a ``recist-tool survival`` output folder."""

    tables: dict[str, pd.DataFrame]
    figures: dict[str, bytes]  # file name -> PNG bytes
    folder: Path


def load_survival(folder: str | os.PathLike) -> SurvivalOutputs:
    """Read the survival tables (km, logrank, cox, ph_test) and PNG figures of a folder.

    Raises
    ------
    ExportError
        When the folder has none of the survival tables.
    """
    folder = Path(folder)
    check_output_set(folder)  # one survival run's tables and figures, or a refusal
    tables = {}
    for name in SURVIVAL_TABLES:
        path = folder / name
        if path.is_file():
            tables[name.removesuffix(".csv")] = pd.read_csv(path)
    if not tables:
        raise ExportError(
            f"{folder}: no survival table ({', '.join(SURVIVAL_TABLES)}): is this the output "
            "folder of 'recist-tool survival'?"
        )
    figures = {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}
    return SurvivalOutputs(tables, figures, folder)


# ----------------------------------------------------------------------------- HTML


def _png(fig_or_bytes) -> bytes:
    if isinstance(fig_or_bytes, bytes):
        return fig_or_bytes
    from recist_tool.export.plots import figure_bytes

    return figure_bytes(fig_or_bytes, "png", dpi=150)


def img_tag(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG embedded as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def table_html(frame: pd.DataFrame, float_format: str = "{:.3g}") -> str:
    """An HTML table (escaped), numbers right-aligned."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for rec in frame.itertuples(index=False):
        cells = []
        for v in rec:
            if isinstance(v, float):
                text = "" if pd.isna(v) else float_format.format(v)
                cells.append(f'<td class="num">{text}</td>')
            elif isinstance(v, int) and not isinstance(v, bool):
                cells.append(f'<td class="num">{v}</td>')
            else:
                cells.append(f"<td>{'' if v is None or v is pd.NaT else html.escape(str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def page(title: str, body: str) -> str:
    """A complete, self-contained HTML document."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


@dataclass
class CohortReport:
    """Everything the cohort report shows, computed once for HTML and PDF."""

    results: Results
    figures: dict[str, object]  # name -> matplotlib Figure
    counts: pd.DataFrame
    rates: list[Rate]
    survival: SurvivalOutputs | None
    title: str
    created: str
    agreement: object | None = None  # recist_tool.readers.report.AgreementOutputs
    endpoints: pd.DataFrame | None = None

    @property
    def settings_table(self) -> pd.DataFrame:
        """Settings as rows (software version included)."""
        return settings_rows(self.results.settings)


CAPTIONS = {
    "waterfall": "Best change in the sum of diameters (SOD) per patient, sorted; bars "
    "coloured by best overall response; dashed lines at +20 % (PD threshold) and −30 % "
    "(PR threshold); * marks a new lesion.",
    "spider": "Change in SOD from baseline over time; ✕ marks a visit with overall PD, "
    "▲ a visit with a new lesion.",
    "swimmer": "Time on study per patient (to the last assessment) with first response "
    "and first progression; arrows: still in follow-up without progression.",
}


def build_cohort_report(
    results: Results,
    survival: str | os.PathLike | None = None,
    treatments: pd.DataFrame | None = None,
    title: str = "RECIST 1.1 cohort report",
    agreement: str | os.PathLike | None = None,
) -> CohortReport:
    """Compute the report's contents (counts, rates, figures, survival outputs).

    Parameters
    ----------
    results : Results
        Batch results (already de-identified when that was asked for).
    survival : path-like, optional
        Output folder of ``recist-tool survival``.
    treatments : pandas.DataFrame, optional
        Treatment dates for the swimmer plot (``patient_id``, ``date``).
    title : str
    agreement : path-like, optional
        Output folder of ``recist-tool agreement`` (inter-reader agreement section).
    """
    from recist_tool.export.plots import response_figures

    endpoints = None
    needed = {"clinical_benefit", "dor_days", "dor_event", "ttr_days", "ttr_event"}
    if needed <= set(results.patients.columns):
        from recist_tool.response.endpoints import trial_endpoints

        endpoints = trial_endpoints(results.patients, results.response_settings())
        endpoints = endpoints.drop(columns=["method"])
    return CohortReport(
        endpoints=endpoints,
        results=results,
        figures=response_figures(results.timepoints, results.patients, treatments=treatments),
        counts=response_counts(results.patients),
        rates=response_rates(results.patients),
        survival=None if survival is None else load_survival(survival),
        title=title,
        created=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        agreement=None if agreement is None else _load_agreement(agreement),
    )


def _load_agreement(folder):
    from recist_tool.readers.report import load_agreement

    return load_agreement(folder)


def cohort_html(report: CohortReport) -> str:
    """The cohort report as one self-contained HTML document."""
    r = report.results
    parts = [
        f"<h1>{html.escape(report.title)}</h1>",
        f'<p class="meta">recist-tool {html.escape(__version__)} · created '
        f"{html.escape(report.created)} · {len(r.patients)} patients, "
        f"{len(r.timepoints)} time points</p>",
        "<h2>Response</h2>",
        "<h3>Best overall response</h3>",
        table_html(report.counts, "{:.1f}"),
        "<h3>Rates (exact Clopper–Pearson 95 % confidence intervals)</h3>",
        "<table><tbody>"
        + "".join(
            f"<tr><th>{html.escape(x.name)}</th><td>{html.escape(x.text())}</td></tr>"
            for x in report.rates
        )
        + "</tbody></table>",
        '<p class="meta">Denominator: every patient evaluated (patients with best '
        "response NE included).</p>",
    ]
    if report.endpoints is not None:
        parts += [
            "<h3>Trial endpoints</h3>",
            '<p class="meta">Proportions with exact Clopper–Pearson 95 % CIs; times in '
            "months, Kaplan–Meier medians with 95 % CIs (log-log).</p>",
            table_html(report.endpoints, "{:.4g}"),
        ]
    parts += [
        "<h2>Figures</h2>",
    ]
    for name, fig in report.figures.items():
        parts.append(
            f"<figure>{img_tag(_png(fig), name + ' plot')}"
            f"<figcaption>{html.escape(CAPTIONS.get(name, name))}</figcaption></figure>"
        )
    if report.survival is not None:
        parts.append("<h2>Survival</h2>")
        parts.append(
            f'<p class="meta">From <code>{html.escape(report.survival.folder.name)}</code> '
            "(recist-tool survival).</p>"
        )
        for name, frame in report.survival.tables.items():
            parts += [f"<h3>{html.escape(name)}</h3>", table_html(frame)]
        for name, png in report.survival.figures.items():
            parts.append(
                f"<figure>{img_tag(png, name)}<figcaption>{html.escape(name)}</figcaption></figure>"
            )
    if report.agreement is not None:
        from recist_tool.readers.report import agreement_section_html

        parts.append(agreement_section_html(report.agreement))
    msgs = r.messages
    parts.append("<h2>Validation messages</h2>")
    if msgs is None or msgs.empty:
        parts.append("<p>None.</p>")
    else:
        parts.append(table_html(msgs.head(200)))
        if len(msgs) > 200:
            parts.append(f'<p class="note">{len(msgs) - 200} more in messages.csv.</p>')
    parts += ["<h2>Settings</h2>", table_html(report.settings_table)]
    return page(report.title, "\n".join(parts))


# ----------------------------------------------------------------------------- PDF


def _cell_text(v) -> str:
    if v is None or v is pd.NaT or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _fit_columns(tab, rows: list[list[str]]) -> None:
    """Column widths proportional to their longest text (header lines count singly)."""
    n = len(rows[0])
    widths = [
        max(max((len(part) for part in str(r[j]).split("\n")), default=1) for r in rows) + 1
        for j in range(n)
    ]
    total = float(sum(widths))
    for (_, c), cell in tab.get_celld().items():
        cell.set_width(widths[c] / total)


def _text_page(pdf, title: str, blocks: Sequence[tuple[str, pd.DataFrame | str]]) -> None:
    """A4 portrait pages of headings, text and tables; long tables continue on new pages.

    Numbers are shown with 4 significant digits; column names are wrapped at ``_``.
    """
    from matplotlib.figure import Figure

    line = 0.019
    state: dict = {}

    def new_page(heading: str) -> None:
        if state.get("fig") is not None:
            pdf.savefig(state["fig"])
        state["fig"] = Figure(figsize=(8.27, 11.69))
        state["fig"].text(0.07, 0.95, heading, fontsize=16, weight="bold", va="top")
        state["y"] = 0.90

    new_page(title)
    for heading, content in blocks:
        if state["y"] < 0.2:
            new_page(f"{title} (continued)")
        fig = state["fig"]
        fig.text(0.07, state["y"], heading, fontsize=12, weight="bold", va="top")
        state["y"] -= 0.03
        if isinstance(content, str):
            for text in content.splitlines():
                state["fig"].text(0.07, state["y"], text, fontsize=9.5, va="top")
                state["y"] -= 0.022
            state["y"] -= 0.015
            continue
        rows = [[_cell_text(v) for v in rec] for rec in content.itertuples(index=False)]
        labels = [str(c).replace("_", "\n") for c in content.columns]
        head_lines = max((lab.count("\n") + 1 for lab in labels), default=1)
        small = len(labels) > 8
        while True:
            room = int((state["y"] - 0.05 - head_lines * line) / line)
            chunk, rows = rows[: max(room, 0)], rows[max(room, 0) :]
            if chunk:
                h = line * (len(chunk) + head_lines)
                ax = state["fig"].add_axes((0.07, state["y"] - h, 0.86, h))
                ax.axis("off")
                tab = ax.table(
                    cellText=chunk,
                    colLabels=labels,
                    loc="upper left",
                    cellLoc="left",
                    colLoc="left",
                    bbox=(0, 0, 1, 1),
                )
                tab.auto_set_font_size(False)
                tab.set_fontsize(6.5 if small else 8)
                _fit_columns(tab, [labels, *chunk])
                for (r, _), cell in tab.get_celld().items():
                    cell.set_edgecolor("#bbbbbb")
                    cell.set_height(line * (head_lines if r == 0 else 1) / h)
                    if r == 0:
                        cell.set_facecolor("#eeeeee")
                state["y"] -= h + 0.035
            if not rows:
                break
            new_page(f"{title} (continued)")
            state["fig"].text(
                0.07, state["y"], f"{heading} (continued)", fontsize=12, weight="bold", va="top"
            )
            state["y"] -= 0.03
    pdf.savefig(state["fig"])


def _figure_page(pdf, fig_or_png, caption: str) -> None:
    import matplotlib.image as mpimg
    from matplotlib.figure import Figure

    page_fig = Figure(figsize=(8.27, 11.69))
    img = mpimg.imread(io.BytesIO(_png(fig_or_png)), format="png")
    h, w = img.shape[:2]
    width = 0.86
    height = min(0.8, width * h / w * 8.27 / 11.69)
    ax = page_fig.add_axes((0.07, 0.9 - height, width, height))
    ax.imshow(img)
    ax.axis("off")
    page_fig.text(0.07, 0.88 - height, caption, fontsize=9, va="top", wrap=True)
    pdf.savefig(page_fig)


def cohort_pdf(report: CohortReport) -> bytes:
    """The cohort report as PDF bytes (A4 pages)."""
    from matplotlib.backends.backend_pdf import PdfPages

    from recist_tool.export.plots import style

    buf = io.BytesIO()
    rates = "\n".join(f"{x.name}: {x.text()}" for x in report.rates)
    with (
        style(),
        PdfPages(
            buf,
            metadata={
                "Title": report.title,
                "Creator": f"recist-tool {__version__}",
                "CreationDate": None,
            },
        ) as pdf,
    ):
        _text_page(pdf, report.title, [
            ("Cohort", f"recist-tool {__version__}, created {report.created}\n"
                       f"{len(report.results.patients)} patients, "
                       f"{len(report.results.timepoints)} time points"),
            ("Best overall response", report.counts),
            ("Rates (exact Clopper–Pearson 95 % CI)", rates + "\nDenominator: every "
             "patient evaluated (NE included)."),
            *([("Trial endpoints", report.endpoints[["endpoint", "n", "events", "estimate",
                                                     "ci_low", "ci_high", "unit"]])]
              if report.endpoints is not None else []),
            ("Settings", report.settings_table),
        ])  # fmt: skip
        for name, fig in report.figures.items():
            _figure_page(pdf, fig, CAPTIONS.get(name, name))
        if report.survival is not None:
            blocks = [(name, frame) for name, frame in report.survival.tables.items()]
            _text_page(pdf, "Survival", blocks)
            for name, png in report.survival.figures.items():
                _figure_page(pdf, png, name)
        if report.agreement is not None:
            from recist_tool.readers.report import CAPTION, agreement_pdf_blocks

            _text_page(pdf, "Inter-reader agreement", agreement_pdf_blocks(report.agreement))
            for name, png in report.agreement.figures.items():
                _figure_page(pdf, png, f"{CAPTION} ({name})")
        msgs = report.results.messages
        if msgs is not None and not msgs.empty:
            _text_page(pdf, "Validation messages", [("Messages", msgs)])
    return buf.getvalue()


def write_cohort_report(
    report: CohortReport, outdir: str | os.PathLike, stem: str = "cohort_report"
) -> list[Path]:
    """Write ``<stem>.html`` and ``<stem>.pdf`` into ``outdir`` (atomically)."""
    outdir = Path(outdir)
    html_path, pdf_path = outdir / f"{stem}.html", outdir / f"{stem}.pdf"
    atomic_write_text(html_path, cohort_html(report))
    atomic_write_bytes(pdf_path, cohort_pdf(report))
    return [html_path, pdf_path]
