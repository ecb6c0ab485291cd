"""Organ names as RECIST counts them: paired organs and all lymph nodes are one organ."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

# Paired organs (either side, singular or plural) -> one organ.
_PAIRED = {
    "lung": "lung",
    "lungs": "lung",
    "kidney": "kidney",
    "kidneys": "kidney",
    "ovary": "ovary",
    "ovaries": "ovary",
    "adrenal": "adrenal gland",
    "adrenals": "adrenal gland",
    "adrenal gland": "adrenal gland",
    "adrenal glands": "adrenal gland",
    "breast": "breast",
    "breasts": "breast",
    "testis": "testis",
    "testes": "testis",
    "pleura": "pleura",
    "pleural": "pleura",
    "pleural space": "pleura",
    "fallopian tube": "fallopian tube",
    "fallopian tubes": "fallopian tube",
}
_SIDE = re.compile(r"^(left|right|bilateral|l|r|lt|rt)[\s_\-]+")
LYMPH_NODE = "lymph node"


def organ_group(organ: str, nodal: bool) -> str:
    """The organ a lesion counts against for the 2-per-organ rule.

    Examples
    --------
    >>> organ_group("Right Lung", False)
    'lung'
    >>> organ_group("mediastinal", True)
    'lymph node'
    """
    if nodal:
        return LYMPH_NODE
    name = " ".join(str(organ).strip().lower().replace("_", " ").split())
    name = _SIDE.sub("", name)
    return _PAIRED.get(name, name)


def organ_groups(organs: np.ndarray, nodal: np.ndarray) -> np.ndarray:
    """Vectorised :func:`organ_group`, evaluated once per distinct name."""
    codes, names = pd.factorize(pd.Series(organs, dtype=object).fillna(""))
    groups = np.array([organ_group(str(n), False) for n in names] + [""], dtype=object)
    return np.where(np.asarray(nodal, dtype=bool), LYMPH_NODE, groups[codes])
