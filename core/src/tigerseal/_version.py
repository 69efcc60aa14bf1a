"""tigerseal's version: the one in core/pyproject.toml, read from the installed metadata.

pyproject.toml is the only place a version is written (every member carries the same one, a
test checks it); ``tigerseal.__version__`` loads this module on first access, so
``import tigerseal`` does not pay for importlib.metadata.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("tigerseal")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"
