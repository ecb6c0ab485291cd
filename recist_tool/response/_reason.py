"""The ``reason`` column: which rule decided each time point's overall response.

Built for the whole cohort at once with pyarrow string kernels (no Python loop
over time points). The numbers in a reason are the display values of
:mod:`recist_tool.response.display`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recist_tool.response._prepare import Prepared, U
from recist_tool.response._timepoint import CR, NE, NN, PD, PR, SD, TimepointResult


def _s(text: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(text, pa.string()), n) if n else pa.array([], pa.string())


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def tenths_text(values: np.ndarray, plus: bool = True) -> pa.Array:
    """Display values on the 0.1 grid (float, NaN) as ``+12.3``/``-4.0`` strings."""
    v = np.nan_to_num(values)
    t = np.rint(v * 10).astype(np.int64)
    a = np.abs(t)
    sign = np.where(t < 0, "-", "+" if plus else "")
    return _join(
        pa.array(sign.astype(object), pa.string()),
        pc.cast(pa.array(a // 10), pa.string()),
        _s(".", len(a)),
        pc.cast(pa.array(a % 10), pa.string()),
    )


def mm_text(u: np.ndarray) -> pa.Array:
    """Exact sizes (int units) as decimal strings with at least one decimal (``28.0``)."""
    u = np.maximum(np.asarray(u, dtype=np.int64), 0)
    whole = pc.cast(pa.array(u // U), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(u % U), pa.string()), width=6, padding="0")
    frac = pc.utf8_rtrim(frac, characters="0")
    frac = pc.if_else(pc.equal(pc.utf8_length(frac), 0), "0", frac)
    return _join(whole, _s(".", len(u)), frac)


def _label(les: np.ndarray, labels: np.ndarray) -> pa.Array:
    """Lesion labels (empty where -1)."""
    lab = np.append(labels.astype(object), "")
    return pa.array(lab[np.where(les >= 0, les, len(labels))], pa.string())


def reasons(
    prep: Prepared,
    tps: TimepointResult,
    base_pct: np.ndarray,
    nadir_pct: np.ndarray,
) -> pa.Array:
    """One reason per time point (empty at baseline).

    Each time point gets a category (the rule that decided it); the text of a
    category is built only for its own time points, so the work is linear in the
    number of time points whatever the number of templates.
    """
    n = prep.n_tp
    if n == 0:
        return pa.array([], pa.string())
    follow = prep.tp_rank > 0
    labels = prep.les_label
    has_t = tps.n_targets > 0
    has_nt = tps.non_target != 0
    target, nt, o = tps.target, tps.non_target, tps.overall
    nt_missing = tps.first_nt_ne < 0

    def lab(les: np.ndarray):
        return lambda i: _label(les[i], labels)

    def pct(values: np.ndarray):
        return lambda i: tenths_text(values[i])

    def mm(u: np.ndarray):
        return lambda i: mm_text(u[i])

    nadir_mm = mm(tps.nadir)
    base_mm = mm(tps.baseline_sod)
    diff_mm = mm(np.abs(tps.sod - tps.nadir))
    sign_arr = np.where(tps.sod >= tps.nadir, "+", "-").astype(object)

    def sign(i):
        return pa.array(sign_arr[i], pa.string())

    nt_present = ["non-target ", lab(tps.first_nt_present), " present"]
    nt_ne = ["non-target ", lab(tps.first_nt_ne), " not evaluated"]
    templates = {
        # PD causes (joined with "; " below)
        "new": ["new lesion ", lab(tps.first_new)],
        "late": ["non-target ", lab(tps.first_late_nt),
                 " first recorded at follow-up: a new lesion"],
        "re_t": ["reappearance after CR: ", lab(tps.first_target_present)],
        "re_nt": ["reappearance after CR: ", lab(tps.first_nt_present)],
        "sum": ["target PD: ", pct(nadir_pct), " % and ", sign, diff_mm, " mm from nadir ",
                nadir_mm],
        "sum_partial": ["target PD: ", pct(nadir_pct), " % and ", sign, diff_mm,
                        " mm from nadir ", nadir_mm, " (targets not all evaluated)"],
        "nt_prog": ["non-target progression: ", lab(tps.first_nt_prog)],
        # other responses
        "cr_all": ["CR: every target disappeared (nodes < 10 mm) and every non-target absent"],
        "cr_t": ["CR: every target disappeared (nodes < 10 mm)"],
        "cr_nt": ["CR: every non-target absent"],
        "tcr_ne": ["targets CR; ", *nt_ne],
        "tcr_ne_missing": ["targets CR; a non-target not evaluated"],
        "tcr_nn": ["targets CR; ", *nt_present],
        "tcr_markers": ["targets CR; tumour markers abnormal"],
        "held": ["PR kept (once PR, PR until PD): ", pct(base_pct), " % from baseline ", base_mm],
        "pr": ["target PR: ", pct(base_pct), " % from baseline ", base_mm],
        "sd": ["target SD: ", pct(base_pct), " % from baseline ", base_mm, "; ", pct(nadir_pct),
               " % from nadir ", nadir_mm],
        "t_ne": ["target ", lab(tps.first_target_ne), " not evaluated"],
        "nt_ne": nt_ne,
        "nt_ne_missing": ["a non-target not evaluated"],
        "none": ["no assessment recorded"],
        "nn": nt_present,
        "markers": ["tumour markers abnormal"],
    }  # fmt: skip
    names = list(templates)
    code = {k: i for i, k in enumerate(names)}

    def build(name: str, idx: np.ndarray) -> pa.Array:
        parts = [
            pa.repeat(pa.scalar(p, pa.string()), len(idx)) if isinstance(p, str) else p(idx)
            for p in templates[name]
        ]
        return parts[0] if len(parts) == 1 else _join(*parts)

    # ---- PD: every cause, joined
    is_pd = follow & (o == PD)
    causes = [
        ("late", tps.first_late_nt >= 0),
        ("new", (tps.new_unequivocal > 0) & (tps.first_late_nt < 0)),
        ("re_t", tps.reappeared_target),
        ("re_nt", tps.reappeared_nt & ~tps.reappeared_target),
        ("sum", tps.pd_size & (tps.target_strict == PD) & tps.full),
        ("sum_partial", tps.pd_size & (tps.target_strict == PD) & ~tps.full),
        ("nt_prog", (tps.nt_prog_count > 0) & ~tps.reappeared_nt),
    ]
    pd_idx = np.flatnonzero(is_pd)
    pd_text = None
    for name, mask in causes:
        m = mask[pd_idx]
        if not m.any():
            continue
        sub = np.flatnonzero(m)
        piece = build(name, pd_idx[sub])
        full = pc.take(pa.concat_arrays([piece, pa.array([""], pa.string())]),
                       pa.array(np.where(m, np.cumsum(m) - 1, len(sub))))  # fmt: skip
        if pd_text is None:
            pd_text = full
        else:
            sep = pc.if_else(pc.and_(pc.greater(pc.utf8_length(pd_text), 0), pa.array(m)), "; ", "")
            pd_text = _join(pd_text, sep, full)

    cat = np.select(
        [
            ~follow | is_pd,
            (o == CR) & has_t & has_nt,
            (o == CR) & has_t,
            o == CR,
            (o == PR) & (target == CR) & (nt == NE) & nt_missing,
            (o == PR) & (target == CR) & (nt == NE),
            (o == PR) & (target == CR) & (tps.first_nt_present >= 0),
            (o == PR) & (target == CR),
            (o == PR) & tps.held,
            o == PR,
            o == SD,
            (o == NE) & has_t & (target == NE),
            (o == NE) & ~has_t & (nt == NE) & nt_missing,
            (o == NE) & nt_missing,
            o == NE,
            (o == NN) & (tps.first_nt_present >= 0),
            o == NN,
        ],
        [-1] + [code[k] for k in ("cr_all", "cr_t", "cr_nt", "tcr_ne_missing", "tcr_ne",
                                  "tcr_nn", "tcr_markers", "held", "pr", "sd", "t_ne", "none",
                                  "nt_ne_missing", "nt_ne", "nn", "markers")],
        default=-1,
    )  # fmt: skip
    pieces = [pa.array([""], pa.string())]  # position 0: empty
    where = np.zeros(n, dtype=np.int64)
    offset = 1
    if pd_text is not None and len(pd_idx):
        pieces.append(pd_text)
        where[pd_idx] = offset + np.arange(len(pd_idx))
        offset += len(pd_idx)
    for c in np.unique(cat[cat >= 0]):
        idx = np.flatnonzero(cat == c)
        pieces.append(build(names[c], idx))
        where[idx] = offset + np.arange(len(idx))
        offset += len(idx)
    return pc.take(pa.concat_arrays(pieces), pa.array(where))
