"""OHIF v3's own SR adapter (``@cornerstonejs/adapters`` in node), for the tests.

``scripts/setup.sh`` installs node (>= 20) and the pinned npm packages of
``tests/node``; these helpers fail (never skip) when they are missing.
"""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
from pathlib import Path

NODE_DIR = Path(__file__).resolve().parents[2] / "node"
SCRIPT = NODE_DIR / "ohif_sr.mjs"


def node() -> str:
    """The node executable setup.sh chose (its pinned runtime, else node >= 20)."""
    pinned = sorted(glob.glob(str(NODE_DIR / ".runtime/node_modules/node-linux-*/bin/node")))
    exe = pinned[0] if pinned else shutil.which("node")
    assert exe, "node is required for the OHIF SR tests: run scripts/setup.sh"
    major = subprocess.run(
        [exe, "-p", "process.versions.node.split('.')[0]"], capture_output=True, text=True
    ).stdout.strip()
    assert major.isdigit() and int(major) >= 20, f"node >= 20 needed ({exe}: {major})"
    assert (NODE_DIR / "node_modules/@cornerstonejs/adapters").is_dir(), (
        "the OHIF SR adapter is missing: run scripts/setup.sh (npm ci in tests/node)"
    )
    return exe


def _run(*args: str) -> object:
    proc = subprocess.run([node(), str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def hydrate(srs: list[Path], images: list[Path]) -> dict[str, dict]:
    """What OHIF makes of each SR (``MeasurementReport.generateToolState``), by path."""
    args: list[str] = []
    for d in images:
        args += ["--images", str(d)]
    out = _run("hydrate", *args, *map(str, srs))
    return {Path(k).name: v for k, v in out.items()}  # type: ignore[union-attr]


def generate(reports: list[dict], images: list[Path], workdir: Path) -> list[Path]:
    """SRs written by OHIF's adapter (``MeasurementReport.generateReport``).

    ``reports``: ``{"out": path, "tools": [...], "legacyCodes": bool}`` each (see
    ``tests/node/ohif_sr.mjs``).
    """
    spec = workdir / "ohif_spec.json"
    spec.write_text(json.dumps({"images": [str(d) for d in images], "reports": reports}))
    _run("generate", str(spec))
    return [Path(r["out"]) for r in reports]
