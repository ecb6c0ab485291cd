"""A minimal, strict DICOM header reader for the common case, ~10× faster than dcmread.

Only Part-10 files whose dataset is little endian (implicit or explicit VR, which
covers every compressed syntax too) are read here; the element stream is walked up
to Pixel Data, keeping the raw bytes of the few tags the loader needs and skipping
everything else (sequences included) by length. Anything unusual — no ``DICM``
preamble, deflated or big-endian data, functional groups (multi-frame), a
character set other than ASCII/Latin-1/UTF-8, a malformed length, a wanted
attribute with an unexpected VR or value length, text that does not decode —
returns None and the caller falls back to pydicom. Where the two readers could
read the same bytes differently the fast one steps aside, so a file never loads
with an answer pydicom would not give; the test suite fuzzes one against the
other.

Every length is checked against the file's size before anything is read: a
bogus element length ends the walk (``EOFError``) instead of asking for a buffer
of that size.
"""

from __future__ import annotations

import os
import re
import struct

from pydicom.datadict import dictionary_VR

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED = "1.2.840.10008.1.2.1.99"
BIG_ENDIAN = "1.2.840.10008.1.2.2"

PIXEL_DATA = 0x7FE00010
UNDEFINED = 0xFFFFFFFF
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN",
                       b"UR", b"UT", b"UV"})  # fmt: skip
#: Every VR of PS3.5 (pydicom refuses others; so does this reader).
_KNOWN_VRS = _LONG_VRS | frozenset({b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL",
                                    b"FD", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL", b"SS",
                                    b"ST", b"TM", b"UI", b"UL", b"US"})  # fmt: skip
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
# Tags whose presence sends the file to pydicom (functional groups: multi-frame).
FALLBACK_TAGS = frozenset({0x52009229, 0x52009230})
PLAIN_CHARSETS = frozenset({"", "ISO_IR 6", "ISO_IR 100", "ISO_IR 192", "ISO 2022 IR 6"})

#: The tags the loader reads (keyword -> tag).
TAGS = {
    "SpecificCharacterSet": 0x00080005,
    "ImageType": 0x00080008,
    "SOPClassUID": 0x00080016,
    "SOPInstanceUID": 0x00080018,
    "StudyDate": 0x00080020,
    "StudyTime": 0x00080030,
    "Modality": 0x00080060,
    "StudyDescription": 0x00081030,
    "SeriesDescription": 0x0008103E,
    "PatientName": 0x00100010,
    "PatientID": 0x00100020,
    "SliceThickness": 0x00180050,
    "GantryDetectorTilt": 0x00181120,
    "StudyInstanceUID": 0x0020000D,
    "SeriesInstanceUID": 0x0020000E,
    "SeriesNumber": 0x00200011,
    "AcquisitionNumber": 0x00200012,
    "InstanceNumber": 0x00200013,
    "ImagePositionPatient": 0x00200032,
    "ImageOrientationPatient": 0x00200037,
    "FrameOfReferenceUID": 0x00200052,
    "SamplesPerPixel": 0x00280002,
    "PhotometricInterpretation": 0x00280004,
    "NumberOfFrames": 0x00280008,
    "Rows": 0x00280010,
    "Columns": 0x00280011,
    "PixelSpacing": 0x00280030,
    "BitsAllocated": 0x00280100,
    "BitsStored": 0x00280101,
    "PixelRepresentation": 0x00280103,
    "PixelPaddingValue": 0x00280120,
    "PixelPaddingRangeLimit": 0x00280121,
    "WindowCenter": 0x00281050,
    "WindowWidth": 0x00281051,
    "RescaleIntercept": 0x00281052,
    "RescaleSlope": 0x00281053,
}
_WANTED = {tag: kw for kw, tag in TAGS.items()}
_US = frozenset({"SamplesPerPixel", "Rows", "Columns", "BitsAllocated", "BitsStored",
                 "PixelRepresentation"})  # fmt: skip
_XS = frozenset({"PixelPaddingValue", "PixelPaddingRangeLimit"})  # US or SS
# Bytes a text value may hold (printable, high bytes, TAB LF FF CR ESC and NUL padding).
_ORDINARY = bytes([0, 9, 10, 12, 13, 27, *range(0x20, 0x7F), *range(0x80, 0x100)])
_INNER_NUL = re.compile(rb"\x00[\x00 ]*[^\x00 \\]")
# Per wanted tag: keyword, the VRs it may carry in an explicit-VR file (from the data
# dictionary; any other VR, UN included, is left to pydicom) and whether it is one
# binary 16-bit value (US, or US/SS).
_SPEC = {
    tag: (
        kw,
        frozenset(v.encode() for v in dictionary_VR(tag).split(" or ")),
        kw in _US or kw in _XS,
    )
    for tag, kw in _WANTED.items()
}


class _Fallback(Exception):
    """Internal: let pydicom read this file."""


def _file_size(fp) -> int:
    """Bytes in an open file (or file-like object)."""
    try:
        return os.fstat(fp.fileno()).st_size
    except (AttributeError, OSError, ValueError):  # BytesIO and the like
        here = fp.tell()
        end = fp.seek(0, os.SEEK_END)
        fp.seek(here)
        return end


class _Reader:
    """Little-endian element walker over a file, reading it in growing chunks."""

    def __init__(self, fp, first: bytes) -> None:
        self.fp = fp
        self.buf = first
        self.pos = 0

    def need(self, n: int) -> None:
        short = self.pos + n - len(self.buf)
        if short > 0:
            if short > 1 << 20 and self.pos + n > _file_size(self.fp):
                # a bogus length: never ask for a buffer the file cannot fill
                raise EOFError(
                    f"{n} byte(s) claimed at byte {self.pos}, beyond the end of the file"
                )
            more = self.fp.read(max(short, 16384))
            if len(more) < short:
                raise EOFError(f"file ends inside the header (at byte {len(self.buf) + len(more)})")
            self.buf += more

    def skip_sequence(self, implicit: bool) -> None:
        """Skip items up to the sequence delimiter (undefined-length sequence)."""
        while True:
            self.need(8)
            tag, length = _item_header(self.buf, self.pos)
            self.pos += 8
            if tag == SEQ_END:
                return
            if tag != ITEM:
                raise _Fallback
            if length == UNDEFINED:
                self.skip_item(implicit)
            else:
                self.pos += length

    def skip_item(self, implicit: bool) -> None:
        """Skip the elements of an undefined-length item up to its delimiter."""
        while True:
            self.need(8)
            tag = _tag(self.buf, self.pos)
            if tag == ITEM_END:
                self.pos += 8
                return
            _, vr, length, hdr = self.element_header(implicit)
            self.pos += hdr
            if length == UNDEFINED:
                self.skip_sequence(implicit or vr == b"UN")
            else:
                self.pos += length

    def element_header(self, implicit: bool) -> tuple[int, bytes | None, int, int]:
        """(tag, VR or None, value length, header size) of the element at ``pos``."""
        self.need(8)
        b, p = self.buf, self.pos
        tag = _tag(b, p)
        if implicit or tag >> 16 == 0xFFFE:
            return tag, None, struct.unpack_from("<I", b, p + 4)[0], 8
        vr = b[p + 4 : p + 6]
        if vr in _LONG_VRS:
            self.need(12)
            return tag, vr, struct.unpack_from("<I", self.buf, p + 8)[0], 12
        if vr not in _KNOWN_VRS:
            raise _Fallback  # not an explicit VR after all, or one pydicom does not know
        return tag, vr, struct.unpack_from("<H", b, p + 6)[0], 8


_HHI = struct.Struct("<HHI")
_HH2sH = struct.Struct("<HH2sH")


def _tag(b: bytes, p: int) -> int:
    g, e = struct.unpack_from("<HH", b, p)
    return (g << 16) | e


def _item_header(b: bytes, p: int) -> tuple[int, int]:
    g, e, length = struct.unpack_from("<HHI", b, p)
    return (g << 16) | e, length


def _read_meta(r: _Reader) -> dict[int, bytes]:
    """File meta elements (group 0002, explicit VR little endian); ``r.pos`` ends
    at the first element of the dataset."""
    r.pos = 132
    meta: dict[int, bytes] = {}
    while True:
        r.need(8)
        if _tag(r.buf, r.pos) >> 16 != 0x0002:
            return meta
        tag, vr, length, hdr = r.element_header(False)
        if length == UNDEFINED or (tag in (0x00020002, 0x00020010) and vr != b"UI"):
            raise _Fallback  # the UIDs read here must be UIs, as pydicom reads them
        r.need(hdr + length)
        meta[tag] = r.buf[r.pos + hdr : r.pos + hdr + length]
        r.pos += hdr + length


def meta_info(fp) -> tuple[str, int] | None:
    """``(transfer syntax UID, offset of the dataset)`` of a Part-10 file, or None.

    Raises
    ------
    EOFError
        The file ends inside its file meta information.
    """
    fp.seek(0)
    r = _open(fp)
    if r is None:
        return None
    try:
        meta = _read_meta(r)
    except (_Fallback, struct.error):
        return None
    return _text(meta.get(0x00020010, b"")), r.pos


def _open(fp) -> _Reader | None:
    """A reader over a Part-10 file (None without the ``DICM`` preamble)."""
    first = fp.read(16384)
    if len(first) < 132 or first[128:132] != b"DICM":
        return None
    return _Reader(fp, first)


def read_fast(fp) -> dict | None:
    """Read the header of an open Part-10 file.

    Returns
    -------
    dict or None
        ``{"values": {keyword: raw text bytes}, "numbers": {keyword: 2 raw bytes},
        "ts": str, "implicit": bool,
        "pixel_tell": int | None, "pixel_length": int | None, "meta_sop_class": str}``
        or None when the file needs pydicom (or is not Part 10).

    Never raises for damaged data: a file it cannot walk (a length beyond the end
    of the file, a malformed element …) gets None, and pydicom decides.
    """
    r = _open(fp)
    if r is None:
        return None
    try:
        meta = _read_meta(r)
        ts = _text(meta.get(0x00020010, b""))
        if not ts or ts in (DEFLATED, BIG_ENDIAN):
            return None
        implicit = ts == IMPLICIT_LE
        values: dict[str, bytes] = {}  # text values
        numbers: dict[str, bytes] = {}  # binary 16-bit values
        xs_vr: dict[str, bytes] = {}
        pixel_tell = pixel_length = None
        while True:
            # Hot loop: the common short-form element is decoded inline.
            buf, pos = r.buf, r.pos
            if pos + 12 <= len(buf):
                if implicit:
                    g, e, length = _HHI.unpack_from(buf, pos)
                    tag, vr, hdr = (g << 16) | e, None, 8
                else:
                    g, e, vr, length = _HH2sH.unpack_from(buf, pos)
                    tag, hdr = (g << 16) | e, 8
                    if vr in _LONG_VRS or g == 0xFFFE:
                        tag, vr, length, hdr = r.element_header(implicit)
                    elif vr not in _KNOWN_VRS:
                        raise _Fallback
            else:
                try:
                    r.need(8)
                except EOFError:
                    break  # no pixel data: the caller decides
                tag, vr, length, hdr = r.element_header(implicit)
            if tag == PIXEL_DATA:
                pixel_tell, pixel_length = r.pos + hdr, length
                break
            if tag in FALLBACK_TAGS:
                raise _Fallback
            r.pos += hdr
            if length == UNDEFINED:
                if vr not in (None, b"SQ", b"UN"):
                    raise _Fallback
                # an undefined-length UN holds implicit VR little endian (PS3.5 6.2.2)
                r.skip_sequence(implicit or vr == b"UN")
                continue
            spec = _SPEC.get(tag)
            if spec is not None:
                kw, vrs, binary = spec
                if vr is not None and vr not in vrs:
                    raise _Fallback  # e.g. Rows as UL or UN: pydicom's reading rules apply
                r.need(length)
                if binary:
                    if length != 2:
                        raise _Fallback  # one 16-bit value expected
                    if vr is not None and kw in _XS:
                        xs_vr[kw] = vr  # an explicit US/SS wins over PixelRepresentation
                    numbers[kw] = r.buf[r.pos : r.pos + 2]
                else:
                    values[kw] = r.buf[r.pos : r.pos + length]
            r.pos += length
    except (_Fallback, struct.error, EOFError):
        # Anything unusual, a length beyond the end of the file included: pydicom
        # decides (it reads such files by its own rules, or calls them damaged).
        return None
    charset = _text(values.get("SpecificCharacterSet", b""))
    if charset not in PLAIN_CHARSETS:
        return None
    utf8 = charset == "ISO_IR 192"
    # Control characters, or a NUL inside a value (not trailing padding), could be
    # read otherwise by pydicom: let it decide. (Values joined by backslash: a NUL
    # padding one value is followed by the separator.)
    joined = b"\\".join(values.values())
    if joined.translate(None, _ORDINARY) or (b"\x00" in joined and _INNER_NUL.search(joined)):
        return None
    if utf8:
        try:
            joined.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return {
        "values": values,
        "numbers": numbers,
        "ts": ts,
        "implicit": implicit,
        "pixel_tell": pixel_tell,
        "pixel_length": pixel_length,
        "meta_sop_class": _text(meta.get(0x00020002, b"")),
        "utf8": utf8,
        "xs_vr": xs_vr,
    }


def _text(raw: bytes, utf8: bool = False) -> str:
    return raw.decode("utf-8" if utf8 else "latin-1").rstrip("\x00 ").strip()


class FastValues:
    """Typed access to the raw values kept by :func:`read_fast`."""

    def __init__(self, result: dict) -> None:
        self.v = result["values"]
        self.n = result["numbers"]
        self.utf8 = result["utf8"]
        self.signed = self.us("PixelRepresentation") == 1
        self.xs_vr = result.get("xs_vr", {})

    def __contains__(self, kw: str) -> bool:
        return kw in self.v or kw in self.n

    def text(self, kw: str) -> str:
        """String value (multi-values joined by backslash, as stored)."""
        return _text(self.v.get(kw, b""), self.utf8)

    def multi(self, kw: str) -> list[str]:
        t = self.text(kw)
        return [s.strip() for s in t.split("\\")] if t else []

    def floats(self, kw: str) -> list[float] | None:
        try:
            return [float(s) for s in self.multi(kw)] or None
        except ValueError:
            return None

    def number(self, kw: str, cast=float):
        vals = self.multi(kw)
        if not vals or vals[0] == "":
            return None
        try:
            return cast(float(vals[0])) if cast is int else cast(vals[0])
        except (ValueError, OverflowError):
            return None

    def us(self, kw: str) -> int | None:
        raw = self.n.get(kw)
        if not raw or len(raw) < 2:
            return None
        return struct.unpack_from("<H", raw)[0]

    def xs(self, kw: str) -> int | None:
        """US or SS, by PixelRepresentation (Pixel Padding Value and Range Limit)."""
        raw = self.n.get(kw)
        if not raw or len(raw) < 2:
            return None
        vr = self.xs_vr.get(kw)
        signed = vr == b"SS" if vr is not None else self.signed
        return struct.unpack_from("<h" if signed else "<H", raw)[0]
