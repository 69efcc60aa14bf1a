"""A token that disappears and comes back, and a SoftHSM2 set-up that is missing.

Each test runs a subprocess with a SoftHSM2 configuration of its own: SoftHSM reads
``SOFTHSM2_CONF`` once per process, and moving the session's token directory away would
break every other test.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.softhsm import SoftHSM, init_token

pytestmark = [pytest.mark.integration, pytest.mark.pkcs11]

WORKER = Path(__file__).with_name("_outage_worker.py")


def _private_setup(softhsm: SoftHSM, tmp_path: Path) -> tuple[Path, Path]:
    tokendir = tmp_path / "tokens"
    tokendir.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokendir}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    init_token(softhsm.util, conf, "outage", softhsm.pin, softhsm.so_pin)
    return conf, tokendir


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, *args], env=full, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("locking", ["global", "os"])
def test_token_directory_gone_then_back(softhsm: SoftHSM, tmp_path: Path, locking: str) -> None:
    """While gone: ProviderUnavailable (not KeyNotFound/NoMatchingKeyError); back: works."""
    conf, tokendir = _private_setup(softhsm, tmp_path)
    uri = softhsm.uri(softhsm.new_label("outage"), token="outage", locking=locking)
    proc = _run([str(WORKER), uri, str(tokendir)], {"SOFTHSM2_CONF": str(conf)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcomes = json.loads(proc.stdout.splitlines()[-1])
    gone = ("gone.unwrap", "gone.wrap", "gone.decrypt", "gone.unwrap_again", "gone.new_provider")
    for name in gone:
        assert outcomes[name] == "ProviderUnavailable", (name, outcomes)
        assert "retry" in outcomes[name + ".message"].lower(), outcomes
    for name in ("back.unwrap", "back.decrypt", "back.wrap", "back.new_provider"):
        assert outcomes[name] == "ok", (name, outcomes)


LOAD = """
import sys
from tigerseal.errors import TigerSealError
from tigerseal_pkcs11.provider import Pkcs11Provider
try:
    Pkcs11Provider(sys.argv[1])
except TigerSealError as exc:
    print(type(exc).__name__)
    print(exc)
"""


@pytest.mark.parametrize("case", ["conf-missing", "tokendir-missing"])
def test_missing_softhsm_setup_names_the_cause(softhsm: SoftHSM, tmp_path: Path, case: str) -> None:
    conf = tmp_path / "softhsm2.conf"
    missing_dir = tmp_path / "no-such-tokens"
    if case == "tokendir-missing":
        conf.write_text(f"directories.tokendir = {missing_dir}\nobjectstore.backend = file\n")
    uri = softhsm.uri(f"k-{secrets.token_hex(3)}")
    proc = _run(["-c", LOAD, uri], {"SOFTHSM2_CONF": str(conf)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    kind, message = proc.stdout.split("\n", 1)
    assert kind == "ConfigError"
    assert "SOFTHSM2_CONF" in message
    if case == "conf-missing":
        assert str(conf) in message
        assert "does not exist" in message
    else:
        assert str(missing_dir) in message
        assert "softhsm2-util --init-token" in message
    assert "module-path" not in message, "the module loaded fine: do not blame its path"
    assert "()" not in message, "no empty reason"
