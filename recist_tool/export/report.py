"""Cohort report: one self-contained HTML file and a PDF.

The HTML embeds every figure as base64 PNG (no external file, no script). The PDF is
drawn with matplotlib's ``PdfPages``: matplotlib already draws the figures, so the
PDF needs no further dependency and no system library (HTML-to-PDF engines such as
WeasyPrint need Pango/Cairo; a browser is not available everywhere).

Contents: software version and response settings; counts per best overall response;
objective response rate (ORR = CR + PR) and disease control rate (DCR = CR + PR +
SD + NON-CR/NON-PD) with exact Clopper–Pearson 95 % confidence intervals (scipy);
waterfall, spider and swimmer plots; validation messages; and, when a survival
output folder is given, the founding study side by side, its tables in words and its
Kaplan–Meier and forest figures.

Figures are vector graphics in both documents: SVG in the HTML, and in the PDF each
figure's own vector PDF placed on A4 pages (pypdf), two Kaplan–Meier plots of one
predictor (naive and landmark) to a page.
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
from recist_tool.export import ExportError
from recist_tool.export.tables import Results, settings_rows

BOR_ORDER = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")
ORR_CATEGORIES = ("CR", "PR")
DCR_CATEGORIES = ("CR", "PR", "SD", "NON-CR/NON-PD")
SURVIVAL_TABLES = ("km.csv", "logrank.csv", "cox.csv", "ph_test.csv", "founding_study.csv")
A4 = (595.28, 841.89)  # points

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
    figures: dict[str, dict[str, bytes]]  # figure name -> format (png, pdf, svg) -> bytes
    folder: Path


def load_survival(folder: str | os.PathLike) -> SurvivalOutputs:
    """Read the survival tables (km, logrank, cox, ph_test) and PNG figures of a folder.

    Raises
    ------
    ExportError
        When the folder has none of the survival tables.
    """
    folder = Path(folder)
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
    figures: dict[str, dict[str, bytes]] = {}
    for path in sorted(folder.glob("*")):
        if path.suffix in (".png", ".pdf", ".svg") and path.is_file():
            figures.setdefault(path.stem, {})[path.suffix[1:]] = path.read_bytes()
    return SurvivalOutputs(tables, figures, folder)


COLUMN_WORDS = {
    "best_overall_response": "Best overall response",
    "patients": "Patients",
    "percent": "%",
    "endpoint": "Endpoint",
    "definition": "Definition",
    "n": "Patients",
    "events": "Events",
    "estimate": "Estimate",
    "ci_low": "95 % CI, low",
    "ci_high": "95 % CI, high",
    "unit": "Unit",
    "censoring": "Censoring",
}


def _in_words(frame: pd.DataFrame) -> pd.DataFrame:
    """Column names in words (the CSV names stay in the CSV files)."""
    return frame.rename(columns=lambda c: COLUMN_WORDS.get(str(c), str(c).replace("_", " ")))


ANALYSIS_WORDS = {
    "naive": "Naive (from treatment)",
    "landmark": "Landmark",
    "time_varying": "Time-varying",
}


def _f(v: float, fmt: str = "{:.1f}") -> str:
    return (
        "NR"
        if v is None or not pd.notna(v) or v in (float("inf"), -float("inf"))
        else (fmt.format(v))
    )


def _p_text(p: float) -> str:
    if p is None or not pd.notna(p):
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def survival_tables_in_words(tables: dict[str, pd.DataFrame]) -> list[tuple[str, pd.DataFrame]]:
    """The survival tables as a reader wants them: headings, columns and values in
    words, numbers combined with their confidence intervals."""
    from recist_tool.survival.plots import ENDPOINT_WORDS, covariate_words, predictor_words

    def ep(v):
        return ENDPOINT_WORDS.get(str(v), str(v))

    def pred(v):
        text = "All patients" if v == "all" else predictor_words(str(v))
        return text[:1].upper() + text[1:]

    out = []
    f = tables.get("founding_study")
    if f is not None and len(f):
        rows = []
        for r in f.to_dict("records"):
            if r["analysis"] == "time_varying":
                n = stats = diff = ""
                test = (f"HR {r['hr']:.2f} ({r['hr_ci_low']:.2f}–{r['hr_ci_high']:.2f}), "
                        f"p {_p_text(r['hr_p'])}") if pd.notna(r["hr"]) else "no model"  # fmt: skip
            else:
                n = f"{r['n_better']:.0f} / {r['n_worse']:.0f}"
                stats = f"{_f(r['median_better_months'])} / {_f(r['median_worse_months'])}"
                diff = _f(r["difference_months"], "{:+.1f}")
                if pd.notna(r["difference_ci_low"]):
                    diff += f" ({r['difference_ci_low']:+.1f} to {r['difference_ci_high']:+.1f})"
                test = f"log-rank p {_p_text(r['logrank_p'])}"
            analysis = ANALYSIS_WORDS.get(r["analysis"], r["analysis"])
            if r["analysis"] == "landmark":
                analysis += f" ({r['landmark_months']:g} months)"
            title = f"{r['title']}: {r['better']} vs {r['worse']}"
            rows.append({
                "Comparison": title if r["analysis"] == "naive" else "",
                "Analysis": analysis,
                "Patients": n,
                "Median OS, months": stats,
                "Difference, months (95 % CI)": diff,
                "Test": test,
                "Published": f"+{r['published_difference_months']:g} months, "
                f"p < {r['published_p_below']:g}" if r["analysis"] == "naive" else "",
            })  # fmt: skip
        out.append(("The founding study side by side (overall survival)", pd.DataFrame(rows)))
    km = tables.get("km")
    if km is not None and len(km):
        out.append((
            "Median survival (Kaplan–Meier, 95 % CI)",
            pd.DataFrame({
                "Endpoint": km["endpoint"].map(ep),
                "Analysis": km["analysis"].map(lambda a: ANALYSIS_WORDS.get(a, a)),
                "Predictor": km["predictor"].map(pred),
                "Group": km["group"].astype(str).str.capitalize(),
                "Patients": km["n"],
                "Events": km["events"],
                "Median, months (95 % CI)": [
                    f"{_f(m)} ({_f(lo)}–{_f(hi)})"
                    for m, lo, hi in zip(km["median_months"], km["median_ci_low"],
                                         km["median_ci_high"], strict=True)
                ],
            }),
        ))  # fmt: skip
    lr = tables.get("logrank")
    if lr is not None and len(lr):
        out.append((
            "Log-rank tests",
            pd.DataFrame({
                "Endpoint": lr["endpoint"].map(ep),
                "Analysis": lr["analysis"].map(lambda a: ANALYSIS_WORDS.get(a, a)),
                "Predictor": lr["predictor"].map(pred),
                "p": lr["p"].map(_p_text).replace("", "not testable (one group)"),
            }),
        ))  # fmt: skip
    cox = tables.get("cox")
    if cox is not None and len(cox):
        out.append((
            "Cox models (hazard ratio, 95 % CI)",
            pd.DataFrame({
                "Endpoint": cox["endpoint"].map(ep),
                "Analysis": cox["analysis"].map(lambda a: ANALYSIS_WORDS.get(a, a)),
                "Covariate": cox["covariate"].map(covariate_words),
                "Hazard ratio (95 % CI)": [
                    f"{h:.2f} ({lo:.2f}–{hi:.2f})"
                    for h, lo, hi in zip(cox["hr"], cox["ci_low"], cox["ci_high"], strict=True)
                ],
                "p": cox["p"].map(_p_text),
                "Patients": cox["n"],
                "Events": cox["events"],
            }),
        ))  # fmt: skip
    ph = tables.get("ph_test")
    if ph is not None and len(ph):
        out.append((
            "Proportional-hazards test (scaled Schoenfeld residuals)",
            pd.DataFrame({
                "Endpoint": ph["endpoint"].map(ep),
                "Analysis": ph["analysis"].map(lambda a: ANALYSIS_WORDS.get(a, a)),
                "Covariate": ph["covariate"].map(covariate_words),
                "p": ph["p"].map(_p_text),
            }),
        ))  # fmt: skip
    return out


def _survival_figure_caption(name: str) -> str:
    from recist_tool.survival.plots import ENDPOINT_WORDS, predictor_words

    parts = name.split("_")
    if parts[0] == "forest":
        return (
            f"{ENDPOINT_WORDS.get(parts[1], parts[1])}: Cox hazard ratios (naive, landmark "
            "and time-varying models)."
        )
    if parts[0] == "km" and len(parts) >= 4:
        endpoint, analysis = parts[1], parts[-1]
        predictor = "_".join(parts[2:-1])
        return (
            f"{ENDPOINT_WORDS.get(endpoint, endpoint)} by {predictor_words(predictor)}, "
            f"{'naive analysis' if analysis == 'naive' else 'landmark analysis'}."
        )
    return name.replace("_", " ")


# ----------------------------------------------------------------------------- HTML


def _png(fig_or_bytes) -> bytes:
    if isinstance(fig_or_bytes, bytes):
        return fig_or_bytes
    from recist_tool.export.plots import figure_bytes

    return figure_bytes(fig_or_bytes, "png", dpi=150)


def img_tag(data: bytes, alt: str, mime: str = "image/png") -> str:
    """An ``<img>`` with the image (PNG or SVG) embedded as a base64 data URI."""
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img src="data:{mime};base64,{b64}" alt="{html.escape(alt)}">'


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
        table_html(_in_words(report.counts), "{:.1f}"),
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
            table_html(_in_words(report.endpoints), "{:.4g}"),
        ]
    parts += [
        "<h2>Figures</h2>",
    ]
    from recist_tool.export.plots import figure_bytes

    for name, fig in report.figures.items():
        svg = figure_bytes(fig, "svg")
        parts.append(
            f"<figure>{img_tag(svg, name + ' plot', 'image/svg+xml')}"
            f"<figcaption>{html.escape(CAPTIONS.get(name, name))}</figcaption></figure>"
        )
    if report.survival is not None:
        parts.append("<h2>Survival</h2>")
        parts.append(
            f'<p class="meta">From <code>{html.escape(report.survival.folder.name)}</code> '
            "(recist-tool survival). Months = days / 30.4375.</p>"
        )
        for heading, frame in survival_tables_in_words(report.survival.tables):
            parts += [f"<h3>{html.escape(heading)}</h3>", table_html(frame)]
        for name, files in report.survival.figures.items():
            caption = html.escape(_survival_figure_caption(name))
            tag = (
                img_tag(files["svg"], name, "image/svg+xml")
                if "svg" in files
                else img_tag(files["png"], name)
                if "png" in files
                else ""
            )
            if tag:
                parts.append(f"<figure>{tag}<figcaption>{caption}</figcaption></figure>")
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


def _wrap_table(labels: list[str], rows: list[list[str]], budget: int):
    """Column widths (characters) that fit ``budget`` and the cells wrapped to them.

    The widest column gives way first (down to 8 characters); text wraps at spaces.
    """
    import textwrap

    cols = len(labels)
    need = [
        max(max((len(part) for part in str(r[j]).split("\n")), default=1) for r in [labels, *rows])
        + 1
        for j in range(cols)
    ]
    floor = [max(8, max((len(w) for w in str(lab).split()), default=1) + 3) for lab in labels]
    widths = [max(n, f) for n, f in zip(need, floor, strict=True)]
    while sum(widths) > budget:
        can = [j for j in range(cols) if widths[j] > floor[j]]
        if not can:
            break
        j = max(can, key=lambda k: widths[k])
        widths[j] -= 1

    def wrap(text: str, w: int) -> str:
        lines = []
        for part in str(text).split("\n"):
            lines += textwrap.wrap(part, max(w - 1, 4), break_long_words=True) or [""]
        return "\n".join(lines)

    head = [wrap(lab, widths[j] - 2) for j, lab in enumerate(labels)]  # bold: wider
    body = [[wrap(c, widths[j]) for j, c in enumerate(r)] for r in rows]
    return widths, head, body


def _text_page(pdf, title: str, blocks: Sequence[tuple[str, pd.DataFrame | str]]) -> None:
    """A4 portrait pages of headings, text and tables; long tables continue on new pages.

    Numbers are shown with 4 significant digits; column names are wrapped at ``_``;
    cells wrap so every table fits the page width.
    """
    from matplotlib.figure import Figure

    line = 0.0145
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
        small = len(content.columns) > 7
        font = 6.5 if small else 7.5
        budget = int(0.86 * 8.27 * 72 / (0.53 * font))  # characters across the page
        rows = [[_cell_text(v) for v in rec] for rec in content.itertuples(index=False)]
        labels = [str(c).replace("_", "\n") if "_" in str(c) else str(c) for c in content.columns]
        widths, head, body = _wrap_table(labels, rows, budget)
        head_lines = max((h.count("\n") + 1 for h in head), default=1)
        heights = [max(c.count("\n") + 1 for c in r) for r in body]
        while True:
            room = (state["y"] - 0.05) / line - head_lines
            k, used = 0, 0
            while k < len(body) and used + heights[k] <= room:
                used += heights[k]
                k += 1
            chunk, hs = body[:k], heights[:k]
            body, heights = body[k:], heights[k:]
            if chunk:
                h = line * (used + head_lines)
                ax = state["fig"].add_axes((0.07, state["y"] - h, 0.86, h))
                ax.axis("off")
                tab = ax.table(
                    cellText=chunk,
                    colLabels=head,
                    loc="upper left",
                    cellLoc="left",
                    colLoc="left",
                    bbox=(0, 0, 1, 1),
                )
                tab.auto_set_font_size(False)
                tab.set_fontsize(font)
                total = float(sum(widths))
                for (r, c), cell in tab.get_celld().items():
                    cell.set_width(widths[c] / total)
                    cell.set_edgecolor("#bbbbbb")
                    n_lines = head_lines if r == 0 else hs[r - 1]
                    cell.set_height(line * n_lines / h)
                    cell.PAD = 0.02
                    if r == 0:
                        cell.set_facecolor("#eeeeee")
                        cell.get_text().set_weight("bold")
                state["y"] -= h + 0.035
            if not body:
                break
            new_page(f"{title} (continued)")
            state["fig"].text(
                0.07, state["y"], f"{heading} (continued)", fontsize=12, weight="bold", va="top"
            )
            state["y"] -= 0.03
    pdf.savefig(state["fig"])


def _pdf_of(item) -> bytes:
    """A figure as vector PDF bytes (a matplotlib Figure, or a file's PDF bytes); a
    PNG-only figure is placed as an image on a PDF page of its own size."""
    from recist_tool.export.plots import figure_bytes

    if isinstance(item, dict):
        if "pdf" in item:
            return item["pdf"]
        item = item.get("png", b"")
    if isinstance(item, bytes):
        import matplotlib.image as mpimg
        from matplotlib.figure import Figure

        img = mpimg.imread(io.BytesIO(item), format="png")
        h, w = img.shape[:2]
        fig = Figure(figsize=(w / 150, h / 150))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(img)
        ax.axis("off")
        return figure_bytes(fig, "pdf")
    return figure_bytes(item, "pdf")


def _caption_page(captions: list[tuple[float, str]], heading: str | None) -> bytes:
    """An A4 page holding only texts (heading, captions at given heights in points)."""
    from matplotlib.figure import Figure

    from recist_tool.export.plots import figure_bytes

    fig = Figure(figsize=(A4[0] / 72, A4[1] / 72))
    if heading:
        fig.text(0.07, 0.965, heading, fontsize=13, weight="bold", va="top")
    for y_pt, text in captions:
        fig.text(0.07, y_pt / A4[1], text, fontsize=8.5, va="top", wrap=True, color="#333")
    return figure_bytes(fig, "pdf")


def _figures_page(writer, figs: list[tuple[bytes, str]], heading: str | None = None) -> None:
    """Add one A4 page with one or two vector figures stacked, each with its caption."""
    from pypdf import PdfReader, Transformation

    margin, top = 42.0, 60.0 if heading else 36.0
    cap_h = 30.0
    slot = (A4[1] - top - margin) / len(figs)
    captions, placed = [], []
    y = A4[1] - top
    for data, caption in figs:
        page = PdfReader(io.BytesIO(data)).pages[0]
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        scale = min((A4[0] - 2 * margin) / w, (slot - cap_h) / h)
        x0 = (A4[0] - w * scale) / 2
        y0 = y - h * scale
        placed.append((page, Transformation().scale(scale).translate(x0, y0)))
        captions.append((y0 - 6, caption))
        y -= slot
    base = writer.add_page(PdfReader(io.BytesIO(_caption_page(captions, heading))).pages[0])
    for page, transform in placed:
        base.merge_transformed_page(page, transform)


def _section_pages(render) -> list:
    """Pages a ``render(pdf)`` callback draws with matplotlib's PdfPages."""
    from matplotlib.backends.backend_pdf import PdfPages
    from pypdf import PdfReader

    buf = io.BytesIO()
    with PdfPages(buf, metadata={"CreationDate": None}) as pdf:
        render(pdf)
    return list(PdfReader(io.BytesIO(buf.getvalue())).pages)


def _km_pairs(figures: dict) -> list[list[str]]:
    """Survival figures in page groups: naive and landmark of one predictor together."""
    groups: dict[str, list[str]] = {}
    for name in figures:
        key = name.rsplit("_", 1)[0] if name.startswith("km_") else name
        groups.setdefault(key, []).append(name)
    return [sorted(v, key=lambda n: (not n.endswith("_naive"), n)) for v in groups.values()]


def cohort_pdf(report: CohortReport) -> bytes:
    """The cohort report as PDF bytes: A4 pages of text and tables, and the figures as
    vector graphics (each on its own page, two Kaplan–Meier plots to a page)."""
    from pypdf import PdfWriter

    from recist_tool.export.plots import style

    rates = "\n".join(f"{x.name}: {x.text()}" for x in report.rates)
    writer = PdfWriter()

    def add(pages) -> None:
        for page in pages:
            writer.add_page(page)

    with style():
        add(_section_pages(lambda pdf: _text_page(pdf, report.title, [
            ("Cohort", f"recist-tool {__version__}, created {report.created}\n"
                       f"{len(report.results.patients)} patients, "
                       f"{len(report.results.timepoints)} time points"),
            ("Best overall response", _in_words(report.counts)),
            ("Rates (exact Clopper–Pearson 95 % CI)", rates + "\nDenominator: every "
             "patient evaluated (NE included)."),
            *([("Trial endpoints", _in_words(report.endpoints[["endpoint", "n", "events",
                "estimate", "ci_low", "ci_high", "unit"]]))]
              if report.endpoints is not None else []),
            ("Settings", report.settings_table),
        ])))  # fmt: skip
        first = True
        for name, fig in report.figures.items():
            heading = "Figures" if first else None
            first = False
            _figures_page(writer, [(_pdf_of(fig), CAPTIONS.get(name, name))], heading)
        if report.survival is not None:
            blocks = survival_tables_in_words(report.survival.tables)
            add(_section_pages(lambda pdf: _text_page(pdf, "Survival", blocks)))
            figs = report.survival.figures
            for names in _km_pairs(figs):
                items = [(_pdf_of(figs[n]), _survival_figure_caption(n)) for n in names[:2]]
                _figures_page(writer, items)
        if report.agreement is not None:
            from recist_tool.readers.report import CAPTION, agreement_pdf_blocks

            blocks = agreement_pdf_blocks(report.agreement)
            add(_section_pages(lambda pdf: _text_page(pdf, "Inter-reader agreement", blocks)))
            for name, png in report.agreement.figures.items():
                _figures_page(writer, [(_pdf_of(png), f"{CAPTION} ({name})")])
        msgs = report.results.messages
        if msgs is not None and not msgs.empty:
            add(
                _section_pages(
                    lambda pdf: _text_page(pdf, "Validation messages", [("Messages", msgs)])
                )
            )
    writer.add_metadata({"/Title": report.title, "/Creator": f"recist-tool {__version__}"})
    buf = io.BytesIO()
    writer.write(buf)
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
