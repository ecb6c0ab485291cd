"""Where the records of CSV bytes start and on which line, in one vectorised pass.

pyarrow parses CSV fast but says nothing about where a row was in the file. This
module finds the record boundaries with numpy (a line break outside double quotes
ends a record, RFC 4180) and counts line breaks as an editor does (``\\n``, ``\\r\\n``
and a lone ``\\r`` each end a line; a quoted line break still starts a new line).
Empty lines hold no record, as in pyarrow. One pass serves both the line numbers of
the rows and the byte offsets a chunked reader needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

_LF, _CR, _QUOTE = 10, 13, 34


@dataclass
class Records:
    """Non-empty records of a block of CSV bytes (offsets relative to the block).

    Attributes
    ----------
    starts, ends : numpy.ndarray
        Byte offset of each record and of the byte after its line break (int64).
    lines : numpy.ndarray
        Line breaks before each record start, within the block (its line minus the
        block's first line).
    consumed : int
        Bytes of the block holding complete records; the next block starts there.
    breaks : int
        Line breaks in the consumed bytes.
    """

    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray
    consumed: int
    breaks: int


def scan(buf, lo: int, hi: int, final: bool) -> Records:
    """Records of ``buf[lo:hi]``, which starts at a record boundary.

    Parameters
    ----------
    buf : bytes, bytearray or mmap
        The data (anything with ``find`` and the buffer protocol).
    lo, hi : int
        The block.
    final : bool
        Whether the block ends the file (a last record without a line break counts).
    """
    n = hi - lo
    a = np.frombuffer(buf, dtype=np.uint8, count=n, offset=lo) if n else np.zeros(0, np.uint8)
    lf = np.flatnonzero(a == _LF)
    breaks = lf
    limit = n  # bytes that can be decided in this block
    if buf.find(b"\r", lo, hi) >= 0:
        cr = np.flatnonzero(a == _CR)
        if not final and len(cr) and cr[-1] == n - 1:
            cr, limit = cr[:-1], n - 1  # "\r" at the end: "\r\n" may straddle the blocks
        after = cr + 1
        lone = cr[(after >= n) | (a[np.minimum(after, n - 1)] != _LF)]
        if len(lone):
            breaks = np.union1d(lf, lone)
    ends_at = breaks
    quoted = buf.find(b'"', lo, hi) >= 0
    if quoted:
        q = np.flatnonzero(a == _QUOTE)
        inside = (np.searchsorted(q, ends_at) & 1).astype(bool)
        ends_at = ends_at[~inside]
    ends_at = ends_at[ends_at < limit]
    ends = ends_at + 1
    consumed = int(ends[-1]) if len(ends) else 0
    if final and consumed < n:
        ends = np.append(ends, n)
        consumed = n
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64) if len(ends) else ends
    # Record content without its line break ("\n", "\r\n" or "\r"); empty lines hold no row.
    stop = np.minimum(ends_at, n) if len(ends_at) == len(ends) else np.append(ends_at, n)
    crlf = np.zeros(len(stop), dtype=bool)
    inner = (stop < n) & (stop > starts)
    idx = np.flatnonzero(inner)
    crlf[idx] = (a[stop[idx]] == _LF) & (a[stop[idx] - 1] == _CR)
    content = stop - starts - crlf
    keep = content > 0
    n_breaks = int(np.searchsorted(breaks, consumed)) if len(breaks) else 0
    if not quoted:  # every line break ends a record: record i starts on line i
        lines = np.arange(len(starts), dtype=np.int64)
    else:
        lines = np.searchsorted(breaks, starts).astype(np.int64)
    return Records(starts[keep], ends[keep].astype(np.int64), lines[keep], consumed, n_breaks)


def blocks(buf, lo: int, hi: int, size: int, max_record: int) -> Iterator[tuple[int, Records]]:
    """Scan ``buf[lo:hi]`` block by block: ``(block start, records)`` pairs.

    A block grows when one record is longer than ``size``; past ``max_record`` bytes
    a :class:`ValueError` names the offset.
    """
    pos = lo
    while pos < hi:
        step = size
        while True:
            end = min(pos + step, hi)
            rec = scan(buf, pos, end, final=end == hi)
            if rec.consumed or end == hi:
                break
            if step >= max_record:
                raise ValueError(pos)
            step *= 2
        yield pos, rec
        if not rec.consumed:
            return
        pos += rec.consumed


def record_lines(buf, lo: int, hi: int, first_line: int, block: int = 64 << 20) -> np.ndarray:
    """Line number of every non-empty record of ``buf[lo:hi]`` (the first is ``first_line``)."""
    out = []
    line = first_line
    for _, rec in blocks(buf, lo, hi, block, max(block, hi - lo)):
        out.append(rec.lines + line)
        line += rec.breaks
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
