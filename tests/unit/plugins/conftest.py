"""Helpers: fake installed distributions (a dist-info directory on sys.path, nothing imported)."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

MakeDist = Callable[..., str]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeDist]:
    """Create "installed" distributions with entry points; returns a unique module suffix.

    ``site(dist_name, {group: {ep_name: "module"}}, {"module": "source"})``: module names may
    contain ``{u}``, replaced by a suffix unique to the test (sys.modules is process-wide).
    """
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    unique = secrets.token_hex(4)
    created: list[str] = []

    def make(
        dist: str,
        entry_points: dict[str, dict[str, str]],
        modules: dict[str, str] | None = None,
        version: str = "1.0",
    ) -> str:
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = []
        for group, eps in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{name} = {target.format(u=unique)}" for name, target in eps.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in (modules or {}).items():
            name = module.format(u=unique)
            (root / f"{name}.py").write_text(source.replace("{u}", unique))
            created.append(name)
        return unique

    yield make
    for name in created:
        sys.modules.pop(name, None)


PROVIDER_PLUGIN = """
from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import ProviderSpec


@hookimpl
def register_key_providers():
    return [ProviderSpec(name="{name}", factory="tigerseal.testing.fake:from_uri")]
"""


def provider_plugin(name: str) -> str:
    """Source of a plugin module registering key provider ``name`` (backed by the fake)."""
    return PROVIDER_PLUGIN.replace("{name}", name)
