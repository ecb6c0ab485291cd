"""Display values: the one place where the engine's exact numbers are rounded.

Every number a user sees — the batch CSVs, the plugin, the reports, the CDISC
datasets — is one of these values, computed here from the engine's exact integers;
nothing downstream rounds or re-derives.

Percent changes are rounded to 0.1 % half away from zero, **except that a value is
never rounded onto or across a response threshold it did not reach**: the
thresholds are −30 % (PR), +20 % (PD), ±10 % (Choi size) and −15 % (Choi density).
So −29.95 % (SD) reads −29.9 %, never −30.0 %, and +19.96 % reads +19.9 %, while
−30.04 % (PR) reads −30.0 %. Sizes are exact decimals (0.1 mm in, 0.1 mm out) and
are shown as they are.
"""

from __future__ import annotations

import numpy as np

#: Thresholds (percent) a displayed change never crosses: (value, reached when <=).
#: Negative thresholds are reached from above (a decrease), positive ones from below.
THRESHOLDS_PCT = (-30, -15, -10, 10, 20)


def rounded_pct(num: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``100 * (num - ref) / ref`` rounded to 0.1 for display (NaN where undefined).

    Parameters
    ----------
    num, ref : numpy.ndarray of int64
        Exact values (any common unit); -1 in ``num`` or ``ref <= 0`` gives NaN.

    Examples
    --------
    >>> rounded_pct(np.array([70_050_000]), np.array([100_000_000]))  # -29.95 %
    array([-29.9])
    >>> rounded_pct(np.array([69_960_000]), np.array([100_000_000]))  # -30.04 %
    array([-30.])
    """
    num = np.asarray(num, dtype=np.int64)
    ref = np.asarray(ref, dtype=np.int64)
    ok = (num >= 0) & (ref > 0)
    out = np.full(len(num), np.nan)
    d = num[ok] - ref[ok]
    r = ref[ok]
    # |d| / r * 1000 rounded half away from zero, in integer arithmetic
    tenths = np.sign(d) * ((2 * np.abs(d) * 1000 + r) // (2 * r))
    for t in THRESHOLDS_PCT:
        if t < 0:  # reached when 100 d / r <= t
            reached = 100 * d <= t * r
            tenths = np.where(~reached & (tenths <= 10 * t), 10 * t + 1, tenths)
        else:  # reached when 100 d / r >= t
            reached = 100 * d >= t * r
            tenths = np.where(~reached & (tenths >= 10 * t), 10 * t - 1, tenths)
    out[ok] = tenths / 10.0
    return out


def exact_pct(num: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The unrounded percent change (float; NaN where undefined)."""
    num = np.asarray(num, dtype=np.int64)
    ref = np.asarray(ref, dtype=np.int64)
    ok = (num >= 0) & (ref > 0)
    out = np.full(len(num), np.nan)
    out[ok] = (num[ok] - ref[ok]) * 100.0 / ref[ok]
    return out


def pct_text(values: np.ndarray) -> np.ndarray:
    """Display percentages as text: ``+12.3 %``, ``-29.9 %``, empty for NaN."""
    out = np.full(len(values), "", dtype=object)
    ok = ~np.isnan(values)
    tenths = np.rint(values[ok] * 10).astype(np.int64)
    sign = np.where(tenths > 0, "+", np.where(tenths < 0, "-", ""))
    a = np.abs(tenths)
    out[ok] = [f"{s}{q}.{r} %" for s, q, r in zip(sign, a // 10, a % 10, strict=True)]
    return out


def mm_text(values: np.ndarray) -> np.ndarray:
    """Sizes as text (``23.31 mm``; up to six decimals, no trailing zeros; 1 decimal min)."""
    out = np.full(len(values), "", dtype=object)
    ok = ~np.isnan(values)
    out[ok] = [_mm(v) + " mm" for v in values[ok]]
    return out


def _mm(v: float) -> str:
    text = f"{v:.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text
