"""Start an example app as the README does (one command), in a fresh directory."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.services._proc import ServiceProcess, free_port, wait_for
from tests.unit.config.isolation import isolate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_clone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No tigerseal variable set, an empty working directory (a fresh clone's state)."""
    yield from isolate(monkeypatch, tmp_path)


@pytest.fixture
def start_example(fresh_clone: Path, tmp_path: Path) -> Iterator[Callable[[str, list[str]], str]]:
    """``start(script, extra_args) -> base URL``: run ``python <script> --port N`` until /health."""
    started: list[ServiceProcess] = []

    def start(script: str, args: list[str]) -> str:
        port = free_port()
        proc = ServiceProcess(
            Path(script).parent.name,
            [sys.executable, str(ROOT / script), "--port", str(port), *args],
            tmp_path / f"{Path(script).parent.name}.log",
            cwd=fresh_clone,
        ).start()
        started.append(proc)
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            if not proc.alive():
                raise RuntimeError(f"{script} exited:\n{proc.log_tail()}")
            return httpx.get(url + "/health", timeout=2).status_code == 200

        try:
            wait_for(ready, 60.0, script)
        except RuntimeError:
            pytest.fail(f"{script} did not start:\n{proc.log_tail()}")
        return url

    yield start
    for proc in started:
        proc.stop()
