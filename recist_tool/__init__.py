"""recist-tool: RECIST 1.1 measurement, response and survival.

The core package. It never imports Qt or napari; the napari plugin lives in
``plugins/napari_recist`` and is a thin layer over this package.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("recist-tool")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]
