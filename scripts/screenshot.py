"""Make the README screenshot: the walkthrough's last view (baseline beside follow-up).

Run under a virtual display::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot.py

It runs ``scripts/walkthrough.py`` (a full baseline + follow-up reading of the sample
driven by real mouse, wheel and key events on napari's canvases) and saves the
window at the end to ``docs/images/widget.png`` (``-o`` another file).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import walkthrough  # noqa: E402


def main() -> None:
    """Run the walkthrough and save its last view."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "images" / "widget.png"))
    ap.add_argument("--size", default="1600x1000", help="window size, WIDTHxHEIGHT")
    args = ap.parse_args()
    os.environ.setdefault("RECIST_READINGS_DIR", tempfile.mkdtemp(prefix="recist-shot-"))
    os.environ.setdefault("RECIST_READER", "reader 1")
    ns = argparse.Namespace(shots="", readme=args.output, size=args.size)
    raise SystemExit(walkthrough.run(ns))


if __name__ == "__main__":
    main()
