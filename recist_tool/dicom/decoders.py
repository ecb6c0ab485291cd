"""Explicit choice of pixel decoder per transfer syntax.

pydicom picks the first decoder plugin it finds; we choose by measured speed and
licence instead (field notes, 300 × 512² slices): RLE — pylibjpeg-rle, else
pydicom's own; JPEG-LS — pyjpegls (CharLS, BSD) 1.5 s vs gdcm 1.9 s; JPEG 2000 —
gdcm 6.4 s vs pylibjpeg-openjpeg 9.0 s; JPEG baseline/lossless — gdcm (BSD), since
pylibjpeg's JPEG backend (pylibjpeg-libjpeg) is GPLv3 and never required.
"""

from __future__ import annotations

from pydicom import uid as _uid

from recist_tool.dicom.errors import NoDecoderError

# Transfer syntaxes whose pixel data we read straight from the file.
NATIVE_SYNTAXES = frozenset({_uid.ImplicitVRLittleEndian, _uid.ExplicitVRLittleEndian})

# Syntaxes pydicom reads natively after parsing the whole dataset.
DATASET_SYNTAXES = frozenset({_uid.DeflatedExplicitVRLittleEndian, _uid.ExplicitVRBigEndian})

# (plugin name, pip package) in order of preference.
_JPEG = (("gdcm", "python-gdcm"), ("pylibjpeg", "pylibjpeg-libjpeg"), ("pillow", "pillow"))
_J2K = (("gdcm", "python-gdcm"), ("pylibjpeg", "pylibjpeg-openjpeg"), ("pillow", "pillow"))
PREFERRED: dict[str, tuple[tuple[str, str], ...]] = {
    _uid.RLELossless: (("pylibjpeg", "pylibjpeg-rle"), ("pydicom", "pydicom")),
    _uid.JPEGLSLossless: (("pyjpegls", "pyjpegls"), ("gdcm", "python-gdcm")),
    _uid.JPEGLSNearLossless: (("pyjpegls", "pyjpegls"), ("gdcm", "python-gdcm")),
    _uid.JPEG2000Lossless: _J2K,
    _uid.JPEG2000: _J2K,
    _uid.HTJ2KLossless: (("pylibjpeg", "pylibjpeg-openjpeg"),),
    _uid.HTJ2KLosslessRPCL: (("pylibjpeg", "pylibjpeg-openjpeg"),),
    _uid.HTJ2K: (("pylibjpeg", "pylibjpeg-openjpeg"),),
    _uid.JPEGBaseline8Bit: _JPEG,
    _uid.JPEGExtended12Bit: _JPEG[:2],
    _uid.JPEGLossless: _JPEG[:2],
    _uid.JPEGLosslessSV1: _JPEG[:2],
}


def syntax_name(ts: str | None) -> str:
    """Human name of a transfer syntax UID (the UID itself when unknown)."""
    if not ts:
        return "unknown"
    name = _uid.UID(ts).name
    return name if name and name != ts else str(ts)


def choose_plugin(ts: str, where: str = "") -> str | None:
    """Return the pydicom decoding plugin to use for ``ts``.

    Parameters
    ----------
    ts : str
        Transfer syntax UID.
    where : str
        File or folder named in the error message.

    Returns
    -------
    str or None
        None for syntaxes read natively, else the plugin name for
        ``pydicom.pixels.pixel_array(..., decoding_plugin=...)``.

    Raises
    ------
    NoDecoderError
        When no installed package decodes ``ts``; names the package to install.
    """
    if ts in NATIVE_SYNTAXES or ts in DATASET_SYNTAXES:
        return None
    prefs = PREFERRED.get(ts)
    try:
        from pydicom.pixels import get_decoder

        available = set(get_decoder(ts).available_plugins)
    except (NotImplementedError, ValueError, KeyError):
        available = set()
    if prefs:
        for plugin, _package in prefs:
            if plugin in available:
                return plugin
    elif available:  # a syntax we have no preference for: take what pydicom offers
        return sorted(available)[0]
    package = prefs[0][1] if prefs else "a pydicom pixel-data plugin"
    raise NoDecoderError(
        f"{where}: no decoder for transfer syntax {syntax_name(ts)} ({ts}); "
        f"install {package} (pip install {package})"
    )


def other_decoders_hint(ts: str | None, failed: str | None) -> str:
    """``"; another decoder may read it: pip install X"`` for the packages of ``ts``
    other than the one that failed (e.g. 12-bit JPEG Extended, which GDCM refuses
    through pydicom, needs pylibjpeg-libjpeg — GPLv3, so never installed for you)."""
    others = [pkg for plugin, pkg in PREFERRED.get(ts or "", ()) if plugin != failed]
    if not others:
        return ""
    return "; another decoder may read it: " + " or ".join(f"pip install {p}" for p in others)
