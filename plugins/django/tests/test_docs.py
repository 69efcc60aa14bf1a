"""docs/django.md: its blocks are the files of a project, and the last one runs against it.

Each ```python block starting with ``# <path>`` is written to that path of a fresh directory;
the ``# try it`` block then runs there in a new interpreter (Django configured by the settings
block, nothing from this test process), with no tigerseal variable in the environment.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures.cheap_hashing import cheap_hashing_site

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "django.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)


def test_the_documented_project_runs(tmp_path: Path) -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    files: dict[str, str] = {}
    for block in blocks:
        header, _, _ = block.partition("\n")
        assert header.startswith("# "), f"a docs/django.md block has no '# <file>' header:\n{block}"
        files[header[2:].strip()] = block
    assert set(files) == {"settings.py", "notes/models.py", "notes/views.py", "urls.py", "try it"}
    for name, source in files.items():
        if name != "try it":
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(source, encoding="utf-8")
    (tmp_path / "notes" / "__init__.py").write_text("", encoding="utf-8")
    program = files["try it"] + "\nprint('docs ok')\n"
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            # Hashing at test cost: this checks the documented flow, not the hash's strength.
            "PYTHONPATH": f"{cheap_hashing_site(tmp_path.parent, django=True)}:{tmp_path}",
            "DJANGO_SETTINGS_MODULE": "settings",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("docs ok")
