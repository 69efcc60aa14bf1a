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
from tigerseal_pkcs11._provider import Pkcs11Provider
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


TORN = """
import glob, os, sys
from tigerseal.errors import TigerSealError
from tigerseal_pkcs11._session import get_module
from tigerseal_pkcs11._admin import init_key
from tigerseal_pkcs11._provider import Pkcs11Provider
from tigerseal_pkcs11._options import parse_uri

uri, tokendir = sys.argv[1], sys.argv[2]
parsed = parse_uri(uri)
[path] = glob.glob(os.path.join(tokendir, "*", "token.object"))
with open(path, "rb") as handle:
    whole = handle.read()
with open(path, "wb") as handle:  # caught mid-rewrite, as another process's login does
    handle.write(whole[: len(whole) // 2])
get_module(parsed.module_path, parsed.locking)  # C_Initialize reads the torn file
with open(path, "wb") as handle:
    handle.write(whole)
try:
    init_key(uri)
    Pkcs11Provider(uri).close()
    print("ok")
except TigerSealError as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.parametrize("locking", ["global", "os"])
def test_token_read_mid_rewrite_at_start_is_found_again(
    softhsm: SoftHSM, tmp_path: Path, locking: str
) -> None:
    """SoftHSM2 rewrites token.object at every login, in every process. A process whose
    C_Initialize reads it mid-rewrite leaves the token out of its slot list for good (seen as
    "no PKCS#11 token matching ... is present" when workers start together): a provider that
    finds no matching token initialises the module again and looks once more."""
    conf, tokendir = _private_setup(softhsm, tmp_path)
    uri = softhsm.uri(softhsm.new_label("torn"), token="outage", locking=locking)
    proc = _run(["-c", TORN, uri, str(tokendir)], {"SOFTHSM2_CONF": str(conf)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok", proc.stdout


TORN_AT_LOGIN = """
import glob, os, struct, sys
from tigerseal.errors import TigerSealError
from tigerseal_pkcs11 import _session
from tigerseal_pkcs11._admin import init_key
from tigerseal_pkcs11._provider import Pkcs11Provider

uri, tokendir = sys.argv[1], sys.argv[2]
init_key(uri)
[path] = glob.glob(os.path.join(tokendir, "*", "token.object"))
with open(path, "rb") as handle:
    whole = handle.read()
generation = struct.unpack(">Q", whole[:8])[0]  # SoftHSM2 re-reads the file when it changes
state = ["armed"]
real_find, real_recover = _session.Module.find_token, _session.Module.recover

def find_then_tear(self, parsed):
    token = real_find(self, parsed)
    if state[0] == "armed":  # another process's login is rewriting the file right now
        with open(path, "wb") as handle:
            handle.write(struct.pack(">Q", generation + 1) + whole[8 : len(whole) // 2])
        state[0] = "torn"
    return token

def restore_then_recover(self, seen):
    if state[0] == "torn":  # that rewrite is complete
        with open(path, "wb") as handle:
            handle.write(struct.pack(">Q", generation + 2) + whole[8:])
        state[0] = "restored"
    return real_recover(self, seen)

_session.Module.find_token = find_then_tear
_session.Module.recover = restore_then_recover
try:
    Pkcs11Provider(uri).close()
    print("ok", state[0])
except TigerSealError as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.parametrize("locking", ["global", "os"])
def test_token_read_mid_rewrite_at_login_is_retried(
    softhsm: SoftHSM, tmp_path: Path, locking: str
) -> None:
    """The same torn read during C_Login answers CKR_GENERAL_ERROR: initialise again, log in."""
    conf, tokendir = _private_setup(softhsm, tmp_path)
    uri = softhsm.uri(softhsm.new_label("torn"), token="outage", locking=locking)
    proc = _run(["-c", TORN_AT_LOGIN, uri, str(tokendir)], {"SOFTHSM2_CONF": str(conf)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok restored", proc.stdout
