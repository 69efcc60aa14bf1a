#!/usr/bin/env bash
# The checks the project configures, run by scripts/test.sh before pytest (or on their own):
#   ruff check, ruff format --check, mypy --strict on core and every provider/plugin member
#   (the files listed in [tool.mypy] of pyproject.toml), mypy --strict on README.md's first
#   Python block (what a new user types first must type-check), and the API reference built by
#   mkdocs --strict (mkdocs.yml). Any finding fails the run. Needs the synced workspace (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

run() { python3 -m uv run --locked --all-packages --no-sync "$@"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "check.sh: ruff check" >&2
run ruff check --quiet .
echo "check.sh: ruff format --check" >&2
run ruff format --check --quiet .
echo "check.sh: mypy --strict (core and members)" >&2
run mypy
echo "check.sh: mypy --strict README.md's first python block" >&2
run python - "$tmp/readme_quickstart.py" <<'PY'
import pathlib
import re
import sys

text = pathlib.Path("README.md").read_text(encoding="utf-8")
block = re.search(r"^```python\n(.*?)^```", text, re.S | re.M)
if block is None:
    sys.exit("check.sh: README.md has no python block")
pathlib.Path(sys.argv[1]).write_text(block.group(1), encoding="utf-8")
PY
run mypy --strict "$tmp/readme_quickstart.py"
if [ -f mkdocs.yml ]; then
    echo "check.sh: mkdocs build --strict (API reference)" >&2
    run mkdocs build --strict --quiet --site-dir "$tmp/site"
fi
echo "check.sh: all checks passed" >&2
