from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.config.isolation import isolate


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No tigerseal variable, no .env, fresh settings and default services."""
    yield from isolate(monkeypatch, tmp_path)
