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
    """One reason per time point (empty at baseline)."""
    n = prep.n_tp
    if n == 0:
        return pa.array([], pa.string())
    follow = prep.tp_rank > 0
    labels = prep.les_label
    sod_ok = tps.full & (tps.n_targets > 0)
    base_t = tenths_text(base_pct)
    nadir_t = tenths_text(nadir_pct)
    base_mm = mm_text(tps.baseline_sod)
    nadir_mm = mm_text(tps.nadir)
    diff_mm = mm_text(np.abs(tps.sod - tps.nadir))
    sign = pa.array(np.where(tps.sod >= tps.nadir, "+", "-").astype(object), pa.string())
    empty = _s("", n)

    def when(mask: np.ndarray, text: pa.Array) -> pa.Array:
        return pc.if_else(pa.array(mask), text, empty)

    # ---- PD causes, joined with "; "
    first_new = _label(tps.first_new, labels)
    late = tps.first_late_nt >= 0
    new_txt = pc.if_else(
        pa.array(late),
        _join(
            _s("non-target ", n),
            _label(tps.first_late_nt, labels),
            _s(" first recorded at follow-up: a new lesion", n),
        ),
        _join(_s("new lesion ", n), first_new),
    )
    re_les = np.where(tps.reappeared_target, tps.first_target_present, tps.first_nt_present)
    re_txt = _join(_s("reappearance after CR: ", n), _label(re_les, labels))
    sum_txt = _join(
        _s("target PD: ", n),
        nadir_t,
        _s(" % and ", n),
        sign,
        diff_mm,
        _s(" mm from nadir ", n),
        nadir_mm,
    )
    partial = ~tps.full
    sum_txt = pc.if_else(
        pa.array(partial), _join(sum_txt, _s(" (targets not all evaluated)", n)), sum_txt
    )
    ntp_txt = _join(_s("non-target progression: ", n), _label(tps.first_nt_prog, labels))
    pd_parts = [
        (tps.new_unequivocal > 0, new_txt),
        (tps.reappeared_target | tps.reappeared_nt, re_txt),
        (tps.pd_size & (tps.target_strict == PD), sum_txt),
        ((tps.nt_prog_count > 0) & ~tps.reappeared_nt, ntp_txt),
    ]
    pd_reason = None
    for mask, text in pd_parts:
        piece = when(mask, text)
        if pd_reason is None:
            pd_reason = piece
        else:
            sep = pc.if_else(
                pc.and_(pc.greater(pc.utf8_length(pd_reason), 0), pa.array(mask)), "; ", ""
            )
            pd_reason = _join(pd_reason, sep, piece)

    # ---- the other responses
    has_t = tps.n_targets > 0
    has_nt = tps.non_target != 0
    cr_txt = pc.if_else(
        pa.array(has_t & has_nt),
        _s("CR: every target disappeared (nodes < 10 mm) and every non-target absent", n),
        pc.if_else(
            pa.array(has_t),
            _s("CR: every target disappeared (nodes < 10 mm)", n),
            _s("CR: every non-target absent", n),
        ),
    )
    nt_pres = _join(_s("non-target ", n), _label(tps.first_nt_present, labels), _s(" present", n))
    nt_ne = _join(_s("non-target ", n), _label(tps.first_nt_ne, labels), _s(" not evaluated", n))
    nt_missing = tps.first_nt_ne < 0
    nt_ne = pc.if_else(pa.array(nt_missing), _s("a non-target not evaluated", n), nt_ne)
    markers = _s("tumour markers abnormal", n)
    pr_sum = _join(_s("target PR: ", n), base_t, _s(" % from baseline ", n), base_mm)
    held = _join(
        _s("PR kept (once PR, PR until PD): ", n), base_t, _s(" % from baseline ", n), base_mm
    )
    tcr_nn = _join(
        _s("targets CR; ", n),
        pc.if_else(pa.array(tps.markers & (tps.first_nt_present < 0)), markers, nt_pres),
    )
    tcr_ne = _join(_s("targets CR; ", n), nt_ne)
    sd_txt = _join(
        _s("target SD: ", n),
        base_t,
        _s(" % from baseline ", n),
        base_mm,
        _s("; ", n),
        nadir_t,
        _s(" % from nadir ", n),
        nadir_mm,
    )
    t_ne = _join(_s("target ", n), _label(tps.first_target_ne, labels), _s(" not evaluated", n))
    nn_txt = pc.if_else(pa.array(tps.first_nt_present >= 0), nt_pres, markers)
    target = tps.target
    nt = tps.non_target
    o = tps.overall
    conds = [
        ~follow,
        o == PD,
        o == CR,
        (o == PR) & (target == CR) & (nt == NE),
        (o == PR) & (target == CR),
        (o == PR) & tps.held,
        o == PR,
        o == SD,
        (o == NE) & has_t & (target == NE),
        o == NE,
        o == NN,
    ]
    texts = [empty, pd_reason, cr_txt, tcr_ne, tcr_nn, held, pr_sum, sd_txt, t_ne, nt_ne, nn_txt]
    out = empty
    for cond, text in zip(reversed(conds), reversed(texts), strict=True):
        out = pc.if_else(pa.array(cond), text, out)
    no_data = (o == NE) & ~has_t & (nt == NE) & nt_missing
    out = pc.if_else(pa.array(no_data & follow), _s("no assessment recorded", n), out)
    del sod_ok
    return out
