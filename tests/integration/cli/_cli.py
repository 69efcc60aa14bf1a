"""Run the installed ``tigerseal`` command in a subprocess (shared by the CLI tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXE = str(Path(sys.executable).parent / "tigerseal")


def run(
    *args: str,
    cwd: Path,
    env: dict[str, str],
    input: bytes | None = None,
    check: bool = True,
    timeout: float = 600,
) -> subprocess.CompletedProcess[bytes]:
    """``tigerseal ARGS`` with captured output; raise with its stderr if ``check`` and it failed."""
    proc = subprocess.run(
        [EXE, *args], cwd=cwd, env=env, input=input, capture_output=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed: {proc.stderr.decode()}")
    return proc
