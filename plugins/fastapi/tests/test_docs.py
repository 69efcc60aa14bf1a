"""docs/fastapi.md: every ```python block, in order, runs as one program in a fresh directory."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "fastapi.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)


def test_every_block_runs(clean_env: Path) -> None:
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) >= 7
    program = "\n\n".join(blocks) + "\n\nprint('docs ok')\n"
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=clean_env,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(clean_env)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("docs ok")
