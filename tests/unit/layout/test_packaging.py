"""Packaging metadata (issue 13.8): one version, extras, license, URLs, and a lean envelope path."""

from __future__ import annotations

import email.parser
import importlib.metadata
import json
import os
import secrets
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import tigerseal

ROOT = Path(__file__).resolve().parents[3]
# Workspace members (providers/_template is a recipe for third parties, not a distribution).
MEMBERS = sorted(
    p.parent
    for p in ROOT.glob("*/*/pyproject.toml")
    if (p.parent / "src").is_dir() and not p.parent.name.startswith("_")
)
EXTRAS = {
    "aws",
    "vault",
    "pkcs11",
    "redis",
    "sql",
    "fastapi",
    "django",
    "flask",
    "otel",
    "prometheus",
}


def _project(directory: Path) -> dict[str, object]:
    data = tomllib.loads((directory / "pyproject.toml").read_text())
    project: dict[str, object] = data["project"]
    return project


def test_one_version_for_core_and_every_member() -> None:
    version = _project(ROOT / "core")["version"]
    assert {m.relative_to(ROOT).as_posix(): _project(m)["version"] for m in MEMBERS} == {
        m.relative_to(ROOT).as_posix(): version for m in MEMBERS
    }
    # pyproject.toml is the only place it is written; the package reads its metadata.
    assert tigerseal.__version__ == importlib.metadata.version("tigerseal") == version
    init = (ROOT / "core" / "src" / "tigerseal" / "__init__.py").read_text()
    assert "__version__ =" not in init


@pytest.mark.parametrize("member", [ROOT / "core", *MEMBERS], ids=lambda p: p.name)
def test_every_distribution_declares_license_urls_and_classifiers(member: Path) -> None:
    project = _project(member)
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert (member / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    urls = project["urls"]
    assert isinstance(urls, dict)
    assert {"Source", "Changelog", "Documentation"} <= set(urls)
    classifiers = project["classifiers"]
    assert isinstance(classifiers, list)
    assert "Typing :: Typed" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # the SPDX field says it


def test_license_and_changelog_exist() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert "Version 2.0" in (ROOT / "LICENSE").read_text()
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text()


def _uv() -> list[str]:
    """The uv that runs this suite: `uv run` names itself in $UV; else uv on PATH, else the base
    interpreter's uv module (inside the venv, `python3` is the venv's, which has no uv)."""
    if os.environ.get("UV"):
        return [os.environ["UV"]]
    found = shutil.which("uv")
    if found:
        return [found]
    return [getattr(sys, "_base_executable", sys.executable), "-m", "uv"]


def test_core_wheel_metadata(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            *_uv(),
            "build",
            "--package",
            "tigerseal",
            "--wheel",
            "--out-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    [wheel] = tmp_path.glob("tigerseal-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.parser.Parser().parsestr(z.read(meta_name).decode())
        [license_name] = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert b"Apache License" in z.read(license_name)
    assert meta["Version"] == _project(ROOT / "core")["version"]
    assert meta["License-Expression"] == "Apache-2.0"
    assert set(meta.get_all("Provides-Extra") or []) == EXTRAS
    assert {u.split(",")[0] for u in meta.get_all("Project-URL") or []} >= {"Source", "Changelog"}
    assert "Typing :: Typed" in (meta.get_all("Classifier") or [])


def test_import_and_envelope_round_trip_load_no_cli_jwt_or_hash_libraries(tmp_path: Path) -> None:
    # Core is installable for envelope use without its CLI and security-service libraries
    # being loaded: they are imported only by the features that need them.
    code = """
import json, sys
import tigerseal
from tigerseal import EncryptionService, get_encryption_service
from tigerseal.providers.env import EnvKeyProvider

svc = EncryptionService(EnvKeyProvider("K", environ={"K": sys.argv[1]}))
ed = svc.encrypt(b"x", context={"t": "1"})
assert svc.decrypt(str(ed), context={"t": "1"}) == b"x"
default = get_encryption_service()
assert default.decrypt_to_string(default.encrypt("y"), ) == "y"
print(json.dumps(sorted(m for m in ("click", "jwt", "argon2", "bcrypt") if m in sys.modules)))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIGERSEAL_", "ENCRYPTION_"))}
    env["TIGERSEAL_ENCRYPTION_MASTER_KEY"] = secrets.token_hex(32)
    env["TIGERSEAL_ENVIRONMENT"] = "development"
    out = subprocess.run(
        [sys.executable, "-c", code, secrets.token_hex(32)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout) == []
