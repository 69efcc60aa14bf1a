"""End to end: build the fixture plugin distribution into a wheel, install it into a temporary
target directory (never into .venv), and load it through its entry point in a fresh process.

The wheel is assembled with zipfile from tests/fixtures/plugin_dist (its pyproject.toml is the
source of name, version and entry points), so the test needs no build backend and no network.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "plugin_dist"


def build_wheel(source: Path, out: Path) -> Path:
    """A PEP 427 pure-Python wheel of ``source`` (src layout, entry points from pyproject)."""
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    stem = f"{name.replace('-', '_')}-{version}"
    info = f"{stem}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted((source / "src").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(source / "src").as_posix()] = path.read_bytes()
    requires = "".join(f"Requires-Dist: {d}\n" for d in project.get("dependencies", []))
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        f"Summary: {project['description']}\n{requires}"
    ).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tigerseal-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    groups = project["entry-points"]
    files[f"{info}/entry_points.txt"] = "".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
        for group, eps in groups.items()
    ).encode()
    record = []
    for arcname, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{arcname},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, data in files.items():
            zf.writestr(arcname, data)
    return wheel


def install(wheel: Path, target: Path) -> None:
    """Install with uv (an installer, offline, no deps); unpack by hand if uv is missing."""
    uv = shutil.which("uv")
    if uv is not None:
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--offline",
                "--no-deps",
                "--quiet",
                "--python",
                sys.executable,
                "--target",
                str(target),
                str(wheel),
            ],
            check=True,
            timeout=120,
        )
    else:  # a pure wheel installs by unpacking (PEP 427, Root-Is-Purelib)
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(target)


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("rot-plugin")
    target = work / "site"
    target.mkdir()
    install(build_wheel(FIXTURE, work), target)
    assert (target / "tigerseal_rot_plugin" / "__init__.py").is_file()
    assert list(target.glob("tigerseal_rot_plugin-0.0.1.dist-info"))
    return target


def run(plugin_path: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIGERSEAL_")}
    environ |= {"PYTHONPATH": str(plugin_path), **env}
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=120
    )


LOAD = """
import sys
from tigerseal.plugins import get_registry, key_provider_from_uri, list_plugins

[info] = [i for i in list_plugins() if i.name == "rot"]
assert (info.distribution, info.version, info.group) == (
    "tigerseal-rot-plugin", "0.0.1", "tigerseal.key_providers"), info
assert "tigerseal_rot_plugin" not in sys.modules, "listing imported the plugin"

key_provider_from_uri("env://X", environ={"X": "ab" * 32})
assert "tigerseal_rot_plugin" not in sys.modules, "another scheme imported the plugin"

spec = get_registry().resolve("register_key_providers", "rot")
assert spec.distribution == "tigerseal-rot-plugin", spec
assert "tigerseal_rot_plugin" in sys.modules
assert "tigerseal_rot_plugin.provider" not in sys.modules, "the factory was imported eagerly"

provider = key_provider_from_uri("rot://demo")
data_key = provider.generate_data_key({"table": "accounts"})
assert provider.unwrap(data_key.wrapped, {"table": "accounts"}) == data_key.plaintext

from tigerseal.envelope import EncryptionService
service = EncryptionService([provider])
message = service.encrypt(b"secret", context={"row": "1"})
assert message.wrapped_keys[0].provider == "rot"
assert service.decrypt(str(message), context={"row": "1"}) == b"secret"
print("loaded", type(provider).__module__)
"""


def test_plugin_loads_through_its_entry_point(plugin_path: Path) -> None:
    result = run(plugin_path, LOAD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded tigerseal_rot_plugin.provider"


def test_kill_switch_keeps_installed_plugin_out(plugin_path: Path) -> None:
    code = (
        "import sys\nfrom tigerseal.plugins import key_provider_from_uri\n"
        "try:\n    key_provider_from_uri('rot://demo')\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
        "print('imported' if 'tigerseal_rot_plugin' in sys.modules else 'not imported')\n"
    )
    result = run(plugin_path, code, TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD="1")
    assert result.returncode == 0, result.stderr
    assert "UnknownProviderError" in result.stdout
    assert "TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD is set" in result.stdout
    assert result.stdout.strip().endswith("not imported")


def test_cli_lists_it_without_importing(plugin_path: Path) -> None:
    code = (
        "import sys, json\nfrom click.testing import CliRunner\nfrom tigerseal.cli import cli\n"
        "out = CliRunner().invoke(cli, ['plugins', '--json']).output\n"
        "rows = [p for p in json.loads(out)['plugins'] if p['name'] == 'rot']\n"
        "loaded = 'tigerseal_rot_plugin' in sys.modules\n"
        "print(rows[0]['distribution'], rows[0]['version'], loaded)\n"
    )
    result = run(plugin_path, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["tigerseal-rot-plugin", "0.0.1", "False"]


def test_third_party_runs_the_contract_suite(plugin_path: Path, tmp_path: Path) -> None:
    """The fixture's own tests subclass ProviderContract, as a third-party provider would."""
    shutil.copy(FIXTURE / "tests" / "test_contract.py", tmp_path / "test_contract.py")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIGERSEAL_")}
    environ["PYTHONPATH"] = str(plugin_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-W",
            "error",
            "test_contract.py",
        ],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
