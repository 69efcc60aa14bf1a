"""The module layout states the public API: internal modules are ``_name.py``.

A module whose contents are reached through its package's ``__init__`` is internal and starts
with an underscore (as Tink and ``_pytest`` do); a module without one is a documented import
path. This test keeps new modules honest: name it ``_x.py``, or, if users are meant to import
``tigerseal.pkg.x`` themselves, add it to ``PUBLIC_MODULES`` and document it.
"""

from __future__ import annotations

import pkgutil
from pathlib import Path

import tigerseal

# Documented import paths (README.md, docs/) besides the packages themselves.
PUBLIC_MODULES = {
    "tigerseal.errors",
    "tigerseal.hookspecs",
    "tigerseal.plugins",
    "tigerseal.keyuse",
    # Imported by path on purpose: ``import tigerseal`` must not load an exporter's library.
    "tigerseal.observe",
    "tigerseal.metrics.otel",
    "tigerseal.metrics.prometheus",
    "tigerseal.audit.keystore",
    "tigerseal.providers.env",
    "tigerseal.providers.file",
    "tigerseal.ratelimit.storage_keys",
    # The plugin contract: tigerseal.spi re-exports them, and the docs name the modules.
    "tigerseal.spi.errors",
    "tigerseal.spi.kinds",
    "tigerseal.spi.options",
    "tigerseal.spi.services",
    "tigerseal.spi.specs",
    "tigerseal.testing.contract",
    "tigerseal.testing.fake",
    "tigerseal.testing.pytest_plugin",
}

ROOT = Path(tigerseal.__file__).parent


def _modules() -> list[tuple[str, bool]]:
    found = [("tigerseal", True)]
    for info in pkgutil.walk_packages([str(ROOT)], prefix="tigerseal."):
        if any(part.startswith("_") for part in info.name.split(".")[1:-1]):
            continue  # inside an internal package: everything there is internal already
        found.append((info.name, info.ispkg))
    return found


def test_every_leaf_module_is_internal_or_a_documented_import_path() -> None:
    stray = [
        name
        for name, ispkg in _modules()
        if not ispkg and not name.rsplit(".", 1)[1].startswith("_") and name not in PUBLIC_MODULES
    ]
    assert stray == [], (
        f"modules {stray} are neither internal (_name.py) nor documented import paths; "
        "rename them with a leading underscore or add them to PUBLIC_MODULES and the docs"
    )


def test_public_modules_exist() -> None:
    names = {name for name, _ in _modules()}
    assert sorted(PUBLIC_MODULES - names) == []


def test_no_two_modules_share_an_ambiguous_keys_name() -> None:
    # Five modules were once all called keys.py, holding five different things.
    assert sorted(p.relative_to(ROOT).as_posix() for p in ROOT.rglob("keys.py")) == []
