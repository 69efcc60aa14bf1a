"""providers/_template must keep passing the provider contract as it is (so it cannot rot).

The template is not a workspace member and is not installed: like a third-party author's fresh
copy, it is copied to a temporary directory and its own tests run there, importing it through
``sys.path`` and registering it with the plugin manager in code (its conftest does that).
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal.cli import cli
from tigerseal.plugins import PluginRegistry, set_registry

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "providers" / "_template"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    dest = tmp_path / "tigerseal-my-kms"
    shutil.copytree(TEMPLATE, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def test_the_template_is_not_installed() -> None:
    assert importlib.util.find_spec("tigerseal_template") is None
    workspace = (ROOT / "pyproject.toml").read_text()
    assert 'exclude = ["providers/_template"]' in workspace


def test_the_template_passes_its_contract_tests_from_a_copy(copy: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIGERSEAL_", "PYTEST_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    assert " passed" in summary, summary
    assert "failed" not in summary
    assert "error" not in summary
    # The contract class ran (not only the template's own tests).
    assert "TestTemplateContract::test_tampered_blob_fails PASSED" in output
    assert "TestTemplateContract::test_health_check_never_raises" in output


@pytest.fixture
def template_plugin(copy: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(copy / "src"))
    import tigerseal_template

    registry = PluginRegistry(autoload=False)
    registry.register(tigerseal_template, name="tigerseal-template")
    previous = set_registry(registry)
    yield
    set_registry(previous)
    for name in [m for m in sys.modules if m.startswith("tigerseal_template")]:
        del sys.modules[name]


def test_the_template_command_is_registered_through_the_hook(
    template_plugin: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPLATE_CLI_KEK", secrets.token_hex(32))
    result = CliRunner().invoke(cli, ["--help"])
    assert "template" in result.output
    result = CliRunner().invoke(cli, ["template", "check", "template://TEMPLATE_CLI_KEK"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK template://TEMPLATE_CLI_KEK")


def test_the_copy_recipe_of_docs_plugins_md_works(tmp_path: Path) -> None:
    """The shell block of docs/plugins.md (copy, rename, run the tests) as written."""
    text = (ROOT / "docs" / "plugins.md").read_text()
    block = text.split("```bash\ncp -r tigerseal/providers/_template", 1)[1].split("```", 1)[0]
    script = "cp -r tigerseal/providers/_template" + block
    # The tests run below with this interpreter; the rest of the block runs as written.
    script = "\n".join(
        line for line in script.splitlines() if not line.startswith(("python ", "grep -rn"))
    )
    (tmp_path / "tigerseal").symlink_to(ROOT)
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, check=True)
    copy = tmp_path / "tigerseal-gcp-kms"
    assert (copy / "src" / "tigerseal_gcp_kms" / "_provider.py").exists()
    assert (
        "class GcpKmsKeyProvider(KeyProvider)"
        in (copy / "src" / "tigerseal_gcp_kms" / "_provider.py").read_text()
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIGERSEAL_", "PYTEST_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gcp-kms://" in (copy / "tests" / "test_contract.py").read_text()
