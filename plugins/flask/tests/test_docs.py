"""docs/flask.md: every ```python block, in order, runs as one program in a fresh directory."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures.cheap_hashing import cheap_hashing_site

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "flask.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)


def test_every_block_runs(tigerseal_env: Path) -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 2
    program = "\n\n".join(blocks) + "\n\nprint('docs ok')\n"
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tigerseal_env,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tigerseal_env),
            # Hashing at test cost: this checks the documented flow, not the hash's strength.
            "PYTHONPATH": str(cheap_hashing_site(tigerseal_env.parent)),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("docs ok")
