"""The README's test command runs the configured checks before the tests (issue 14.7)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_test_sh_runs_check_sh_before_pytest() -> None:
    text = (ROOT / "scripts" / "test.sh").read_text()
    assert "bash scripts/check.sh" in text
    assert text.index("bash scripts/check.sh") < text.index('pytest "$@"')
    assert "bash scripts/test.sh" in (ROOT / "README.md").read_text()


def test_check_sh_runs_ruff_mypy_on_every_member_and_the_readme_block() -> None:
    text = (ROOT / "scripts" / "check.sh").read_text()
    for command in (
        "ruff check",
        "ruff format --check",
        "run mypy\n",
        'mypy --strict "$tmp/readme_quickstart.py"',
        "mkdocs build --strict",
    ):
        assert command in text, command
    config = (ROOT / "pyproject.toml").read_text()
    members = [p.parent for p in ROOT.glob("*/*/pyproject.toml") if (p.parent / "src").is_dir()]
    assert members
    for member in members:
        assert f'"{member.relative_to(ROOT).as_posix()}/src"' in config or (
            member.name == "core" and '"core/src/tigerseal"' in config
        ), f"{member} is not in [tool.mypy] files"


def test_every_top_level_name_is_listed_in_the_api_reference() -> None:
    import tigerseal

    page = (ROOT / "docs" / "reference" / "tigerseal.md").read_text()
    missing = [name for name in tigerseal.__all__ if f"`{name}`" not in page]
    assert missing == [], f"add {missing} to docs/reference/tigerseal.md"
