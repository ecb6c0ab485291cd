"""Codes used in recist-tool's TID 1500 SRs (shared by export and import).

Standard codes (DICOM ``DCM``, SNOMED CT ``SCT``, UCUM) wherever the standard has
one; a private coding scheme ``99RCST`` (declared in the SR's Coding Scheme
Identification Sequence) for the RECIST per-lesion states the standard lacks.
"""

from __future__ import annotations

import hashlib
import re

from pydicom.sr.coding import Code

# "Long Axis" / "Short Axis" exactly as OHIF's SR adapter looks them up (by meaning).
LONG_AXIS = Code("103339001", "SCT", "Long Axis")
SHORT_AXIS = Code("103340004", "SCT", "Short Axis")
# The SNOMED-RT codes of the axes older tools (OHIF 2, cornerstoneTools 4) write.
LONG_AXIS_SRT = ("G-A185", "SRT")
SHORT_AXIS_SRT = ("G-A186", "SRT")
LENGTH = Code("410668003", "SCT", "Length")
DIAMETER = Code("81827009", "SCT", "Diameter")
LESION = Code("52988006", "SCT", "Lesion")
LYMPH_NODE = Code("59441001", "SCT", "Lymph node")
BASELINE_CATEGORY = Code("112016", "DCM", "Baseline Category")
TARGET = Code("112074", "DCM", "Target Lesion at Baseline")
NON_TARGET = Code("112075", "DCM", "Non-Target Lesion at Baseline")
RECIST_11 = Code("126081", "DCM", "RECIST 1.1")
MM = Code("mm", "UCUM", "millimeter")
CT_UNSPECIFIED = Code("25045-6", "LN", "CT unspecified body region")
RIGHT = Code("24028007", "SCT", "Right")
LEFT = Code("7771000", "SCT", "Left")
BILATERAL = Code("51440002", "SCT", "Right and left")
COMMENT = Code("121106", "DCM", "Comment")

#: Tracking Identifier texts OHIF v3 (Cornerstone3D tools) rehydrates as editable tools.
CORNERSTONE_TAG = "Cornerstone3DTools@^0.1.0"
CORNERSTONE_LEGACY_TAG = "cornerstoneTools@^4.0.0"
TOOL_BIDIRECTIONAL = f"{CORNERSTONE_TAG}:Bidirectional"
TOOL_LENGTH = f"{CORNERSTONE_TAG}:Length"
TOOL_PROBE = f"{CORNERSTONE_TAG}:Probe"
#: A non-target's (or new lesion's) point marker: OHIF's arrow, labelled with the ID.
TOOL_ARROW = f"{CORNERSTONE_TAG}:ArrowAnnotate"

PRIVATE_SCHEME = "99RCST"
PRIVATE_SCHEME_NAME = "recist-tool RECIST 1.1 lesion states"
LESION_STATUS = Code("status", PRIVATE_SCHEME, "RECIST 1.1 lesion status")
LESION_KIND = Code("kind", PRIVATE_SCHEME, "RECIST 1.1 lesion kind")
NEW_LESION = Code("new", PRIVATE_SCHEME, "New lesion")
#: The organ exactly as the reader wrote it (the finding site is its coded form).
ORGAN_TEXT = Code("organ", PRIVATE_SCHEME, "Organ as recorded")
STATUS_MEANINGS = {
    "measured": "Measured",
    "too_small": "Too small to measure",
    "disappeared": "Disappeared",
    "not_evaluated": "Not evaluated",
    "present": "Present",
    "absent": "Absent",
    "progression": "Unequivocal progression",
    "equivocal": "Equivocal",
}

#: Canonical organ name → SNOMED CT code of the finding site.
ORGAN_CODES: dict[str, Code] = {
    name: Code(value, "SCT", meaning)
    for name, value, meaning in (
        ("liver", "10200004", "Liver"),
        ("lung", "39607008", "Lung"),
        ("lymph node", "59441001", "Lymph node"),
        ("kidney", "64033007", "Kidney"),
        ("adrenal gland", "23451007", "Adrenal gland"),
        ("bone", "272673000", "Bone"),
        ("brain", "12738006", "Brain"),
        ("pancreas", "15776009", "Pancreas"),
        ("spleen", "78961009", "Spleen"),
        ("pleura", "3120008", "Pleura"),
        ("peritoneum", "15425007", "Peritoneum"),
        ("retroperitoneum", "82849001", "Retroperitoneum"),
        ("skin", "39937001", "Skin"),
        ("soft tissue", "87784001", "Soft tissue"),
        ("subcutaneous tissue", "71966008", "Subcutaneous tissue"),
        ("breast", "76752008", "Breast"),
        ("ovary", "15497006", "Ovary"),
        ("uterus", "35039007", "Uterus"),
        ("prostate", "41216001", "Prostate"),
        ("testis", "40689003", "Testis"),
        ("bladder", "89837001", "Bladder"),
        ("stomach", "69695003", "Stomach"),
        ("esophagus", "32849002", "Esophagus"),
        ("small intestine", "30315005", "Small intestine"),
        ("duodenum", "38848004", "Duodenum"),
        ("colon", "71854001", "Colon"),
        ("rectum", "34402009", "Rectum"),
        ("gallbladder", "28231008", "Gallbladder"),
        ("thyroid", "69748006", "Thyroid"),
        ("mediastinum", "72410000", "Mediastinum"),
        ("heart", "80891009", "Heart"),
        ("pericardium", "76848001", "Pericardium"),
        ("muscle", "71616004", "Muscle"),
        ("omentum", "27398004", "Omentum"),
        ("chest wall", "78904004", "Chest wall"),
    )
}
_ALIASES = {
    "lungs": "lung",
    "kidneys": "kidney",
    "adrenal": "adrenal gland",
    "adrenals": "adrenal gland",
    "adrenal glands": "adrenal gland",
    "ovaries": "ovary",
    "breasts": "breast",
    "testes": "testis",
    "pleural": "pleura",
    "node": "lymph node",
    "lymph nodes": "lymph node",
    "peritoneal": "peritoneum",
    "hepatic": "liver",
    "osseous": "bone",
}
_SIDES = {
    "left": LEFT,
    "l": LEFT,
    "lt": LEFT,
    "right": RIGHT,
    "r": RIGHT,
    "rt": RIGHT,
    "bilateral": BILATERAL,
}
_SIDE_RE = re.compile(r"^(left|right|bilateral|l|r|lt|rt)[\s_\-]+")


def organ_site(organ: str) -> tuple[Code, Code | None]:
    """Finding site code and laterality of a free-text organ name.

    Known organs (case, plural and side prefix ignored) get their SNOMED CT code and
    a laterality code; any other text gets a private code whose meaning is the
    text itself, so it comes back unchanged.
    """
    text = " ".join(str(organ).strip().replace("_", " ").split())
    low = text.lower()
    side = None
    m = _SIDE_RE.match(low)
    if m:
        side = _SIDES[m.group(1)]
        low = low[m.end() :]
    low = _ALIASES.get(low, low)
    if low in ORGAN_CODES:
        return ORGAN_CODES[low], side
    value = "o" + hashlib.sha1(text.encode()).hexdigest()[:12]
    return Code(value, PRIVATE_SCHEME, text[:64] or "unspecified"), None


def organ_name(
    site_value: str, site_scheme: str, site_meaning: str, laterality_value: str | None = None
) -> str:
    """Organ text for a finding site code (inverse of :func:`organ_site`)."""
    if site_scheme == PRIVATE_SCHEME:
        return site_meaning
    name = next(
        (
            n
            for n, c in ORGAN_CODES.items()
            if c.value == site_value and c.scheme_designator == site_scheme
        ),
        None,
    )
    name = name or str(site_meaning).strip().lower()
    side = {RIGHT.value: "right", LEFT.value: "left", BILATERAL.value: "bilateral"}.get(
        laterality_value or ""
    )
    return f"{side} {name}" if side else name


def normalise_organ(organ: str) -> str:
    """The organ text after an SR round trip (what :func:`organ_name` returns)."""
    code, side = organ_site(organ)
    return organ_name(
        code.value, code.scheme_designator, code.meaning, None if side is None else side.value
    )


def organ_name_of(site: Code | None, laterality: Code | None) -> str:
    """Organ text an importer derives from a finding site and laterality code."""
    if site is None:
        return ""
    return organ_name(
        site.value,
        site.scheme_designator,
        site.meaning,
        None if laterality is None else laterality.value,
    )
