"""Lazy module attributes (PEP 562): one helper for every package that defers its imports.

A package lists ``public name -> module`` and gets a module ``__getattr__`` that imports the
module on first access and caches the name in the package (later lookups skip the hook), plus a
``__dir__`` that lists the lazy names. ``"module:attr"`` exports ``attr`` under another name.
Importing a package stays cheap: PyJWT, argon2, pydantic or boto3 load only when a name that
needs them is used.

Usage::

    __getattr__, __dir__ = lazy_exports(__name__, {"Name": "package.module", ...})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    module_name: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A ``(__getattr__, __dir__)`` pair for the module ``module_name``.

    Args:
        module_name: the package's ``__name__``.
        names: public name -> ``"module"`` (same attribute name) or ``"module:attribute"``.
    """

    def __getattr__(name: str) -> Any:
        target = names.get(name)
        if target is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        module, _, attr = target.partition(":")
        value = getattr(importlib.import_module(module), attr or name)
        setattr(sys.modules[module_name], name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[module_name])) | set(names))

    return __getattr__, __dir__
