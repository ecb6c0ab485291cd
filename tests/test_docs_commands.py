"""Every command in README.md and docs/*.md runs as written (the docs stay true).

Fenced blocks marked ``sh``/``bash``/``shell``/``console`` run line by line with
bash, and ``python`` blocks with this interpreter, in a scratch folder that holds a
copy of ``sample_dicom/`` — so a command writing ``out/...`` never writes into the
checkout. Blocks without a language (formats, usage synopses) are text, not run.

To leave a block out, put an HTML comment on the line before its fence, with the
reason (it shows in the test report)::

    <!-- docs-test: skip (needs a PACS server) -->

Placeholders the docs use for values of the reader's own data are filled in from
:data:`PLACEHOLDERS`; :data:`SPEEDUPS` shrinks cohort sizes so the suite stays fast
(the commands and options are what is tested).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = {"sh", "bash", "shell", "console", "python"}
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*\(?(.*?)\)?\s*-->")
#: Blocks between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` that a test of
#: their own runs (with the servers they need): NAME -> that test.
OWN_TESTS = {
    "pacs-flow": "tests/recist_tool/pacs/test_cli.py",  # against the test Orthanc
    "double-read-flow": "tests/recist_tool/readers/test_cohort_flow.py",
}
OWN = re.compile(r"<!--\s*([\w-]+):start\s*-->")
FENCE = re.compile(r"^(```+)\s*([\w+-]*)\s*$")


def _sample_series_uid() -> str:
    from recist_tool.dicom import scan

    return sorted(s.series_instance_uid for s in scan(ROOT / "sample_dicom"))[0]


#: Placeholder -> value (a callable is evaluated when a block needs it).
PLACEHOLDERS = {"<UID>": _sample_series_uid}
#: Text -> replacement applied to every command before it runs: smaller cohorts, and
#: survival without figures (drawn and checked in tests/recist_tool/survival).
SPEEDUPS = {
    "--n 211": "--n 40",
    "recist-tool survival ": "recist-tool survival --no-figures --bootstrap 200 ",
}


@dataclass
class Block:
    doc: Path
    line: int
    lang: str
    text: str
    skip: str | None


def blocks(doc: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with their skip reasons."""
    out: list[Block] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2).lower(), i
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i])
            i += 1
        prev = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        skip = SKIP.search(prev)
        reason = skip and skip.group(1).strip()
        own = OWN.search(prev)
        if own and own.group(1) in OWN_TESTS:
            reason = f"run by {OWN_TESTS[own.group(1)]}"
        out.append(Block(doc, start + 1, lang, "\n".join(body), reason))
        i += 1
    return out


def _prepare(text: str) -> str:
    for key, value in PLACEHOLDERS.items():
        if key in text:
            text = text.replace(key, value() if callable(value) else value)
    for key, value in SPEEDUPS.items():
        text = text.replace(key, value)
    return text


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    env["COLUMNS"] = "80"
    return env


def _run_shell(block: Block, cwd: Path) -> None:
    # one command per line (a trailing backslash continues it); comments dropped
    commands, current = [], ""
    for raw in block.text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip() and not current.strip().startswith("#"):
            commands.append(_prepare(current.strip()))
        current = ""
    for cmd in commands:
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", cmd],
            cwd=cwd,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        where = f"{block.doc.relative_to(ROOT)}:{block.line}"
        assert proc.returncode == 0, (
            f"{where}: `{cmd}` exited {proc.returncode}\n{proc.stdout[-2000:]}\n"
            f"{proc.stderr[-3000:]}"
        )
        assert "Traceback" not in proc.stderr, f"{where}: `{cmd}`\n{proc.stderr[-3000:]}"


def _run_python(block: Block, cwd: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _prepare(block.text)],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (
        f"{block.doc.relative_to(ROOT)}:{block.line}: python block failed\n{proc.stderr[-3000:]}"
    )


def test_every_runnable_block_is_found():
    found = [b for d in DOCS for b in blocks(d) if b.lang in RUNNABLE]
    assert len(found) >= 8
    assert any("recist-tool export sr" in b.text for b in found)
    # every skipped block says why
    assert all(b.skip for d in DOCS for b in blocks(d) if b.skip is not None)
    # blocks run by their own tests: those tests exist
    assert all((ROOT / test).is_file() for test in OWN_TESTS.values())


@pytest.mark.slow
def test_documented_commands_run(tmp_path):
    """Every document in turn, in one scratch folder (README first): a block repeated
    in a later document runs once, and later documents may use what earlier ones made
    (docs/readers.md repeats README's double-read flow, then uses its cohort)."""
    shutil.copytree(ROOT / "sample_dicom", tmp_path / "sample_dicom")
    seen: set[str] = set()
    ran = 0
    for doc in DOCS:
        for block in blocks(doc):
            if block.lang not in RUNNABLE or block.skip or block.text in seen:
                continue
            seen.add(block.text)
            if block.lang == "python":
                _run_python(block, tmp_path)
            else:
                _run_shell(block, tmp_path)
            ran += 1
    assert ran >= 7
    # nothing was written next to the documents
    assert not (ROOT / "back.csv").exists()
