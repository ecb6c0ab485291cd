"""Keep a stray ``dl`` folder from breaking python-gdcm (and so all of pydicom).

python-gdcm runs ``import dl`` at import time and calls ``dl.RTLD_NOW``; Python 3
has no ``dl`` module, so any ``dl`` found is a plain folder on ``sys.path`` (e.g.
a downloads folder in the working directory) imported as a namespace package,
and pydicom's import then dies with ``AttributeError`` (field notes).
"""

from __future__ import annotations

import importlib.util
import sys


def guard_gdcm_import() -> None:
    """Make ``import dl`` fail cleanly when ``dl`` is only a namespace folder."""
    for name in ("dl", "DLFCN"):
        if name in sys.modules:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.origin in (None, "namespace"):
            sys.modules[name] = None  # type: ignore[assignment]  # -> ImportError in gdcm
