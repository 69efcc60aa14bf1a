"""A real SoftHSM2 token for the tests (see tests/services/__init__.py).

SoftHSM2 is a library, not a server: the "service" is a token directory. The session fixture
writes a private ``softhsm2.conf`` in a temporary directory, points ``SOFTHSM2_CONF`` at it
for the whole test session (the library reads it once, at ``C_Initialize``), and initialises
fresh tokens there with ``softhsm2-util --init-token --free``. Nothing of the developer's own
SoftHSM set-up is read or written. All tokens are created before any test loads the library,
because a process sees the slot list of its first ``C_Initialize``.

Fixtures:
    softhsm: the session's :class:`SoftHSM` (module path, tokens, PIN, URI helper).
    softhsm_key: a fresh AES-256 KEK (version 1) on the main token; yields its object label.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.services._proc import require_binary

__all__ = ["MODULE_CANDIDATES", "SoftHSM", "find_softhsm_module", "init_token"]

#: Where distributions install the SoftHSM2 PKCS#11 module.
MODULE_CANDIDATES: tuple[str, ...] = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/lib/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)

#: Tokens created for every session: the main one, one for other-key tests, and one that is
#: never logged in to successfully (wrong-PIN tests need a token without a login in this process).
TOKENS: tuple[str, ...] = ("tigerseal", "tigerseal-other", "tigerseal-pin")


def find_softhsm_module() -> str | None:
    """Path of ``libsofthsm2.so``: common locations first, then ``dpkg -L softhsm2``."""
    for candidate in MODULE_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    if shutil.which("dpkg") is not None:
        for package in ("softhsm2", "libsofthsm2"):
            listing = subprocess.run(
                ["dpkg", "-L", package], capture_output=True, text=True, check=False
            )
            for line in listing.stdout.splitlines():
                if line.endswith("/libsofthsm2.so") and Path(line).exists():
                    return line
    return None


def init_token(util: str, conf: Path, label: str, pin: str, so_pin: str) -> None:
    """Initialise a token in the first free slot of the SoftHSM set-up at ``conf``."""
    result = subprocess.run(
        [util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"softhsm2-util --init-token {label!r} failed ({result.returncode}): "
            f"{result.stdout}{result.stderr}"
        )


@dataclass
class SoftHSM:
    """The session's SoftHSM2 set-up.

    Attributes:
        module: path of ``libsofthsm2.so``.
        conf: the private ``softhsm2.conf`` (``SOFTHSM2_CONF`` points here for the session).
        token: label of the main token.
        pin: user PIN of every token (random per session).
        so_pin: security-officer PIN of every token.
        pin_file: a file holding ``pin`` (mode 0600), for ``pin-source=file:...``.
        pin_env: an environment variable holding ``pin`` for the session.
        tokens: labels of all tokens created.
    """

    module: str
    conf: Path
    workdir: Path
    pin: str
    so_pin: str
    pin_file: Path
    token: str = "tigerseal"
    pin_env: str = "TIGERSEAL_TEST_PKCS11_PIN"
    tokens: tuple[str, ...] = TOKENS
    util: str = "softhsm2-util"
    _labels: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """Environment a subprocess needs to see the same tokens (no PIN in it)."""
        return {"SOFTHSM2_CONF": str(self.conf)}

    def uri(
        self,
        obj: str,
        *,
        token: str | None = None,
        pin_source: str | None = None,
        **query: str,
    ) -> str:
        """A ``pkcs11:`` URI for object ``obj`` with this module and, by default, the env PIN.

        Extra keyword arguments become query attributes (``_`` turns into ``-``).
        """
        path = f"token={quote(token or self.token, safe='')};object={quote(obj, safe='')}"
        params = {
            "module-path": self.module,
            "pin-source": pin_source or f"env:{self.pin_env}",
            **{k.replace("_", "-"): v for k, v in query.items()},
        }
        return f"pkcs11:{path}?" + "&".join(f"{k}={quote(v, safe='/:')}" for k, v in params.items())

    def new_label(self, prefix: str = "kek") -> str:
        """A label not used before in this session."""
        label = f"{prefix}-{secrets.token_hex(4)}"
        self._labels.append(label)
        return label


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSM]:
    """A private SoftHSM2 set-up with fresh tokens, for the whole test session."""
    util = require_binary("softhsm2-util", "install it with: apt-get install -y softhsm2")
    module = find_softhsm_module()
    if module is None:
        msg = "libsofthsm2.so not found: install it with: apt-get install -y softhsm2"
        if os.environ.get("TIGERSEAL_SKIP_MISSING_SERVICES") == "1":
            pytest.skip(msg)
        pytest.fail(msg)
    workdir = tmp_path_factory.mktemp("softhsm")
    tokendir = workdir / "tokens"
    tokendir.mkdir()
    conf = workdir / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokendir}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
    )
    pin = secrets.token_hex(8)
    so_pin = secrets.token_hex(8)
    for label in TOKENS:
        init_token(util, conf, label, pin, so_pin)
    pin_file = workdir / "pin"
    pin_file.write_text(pin + "\n")
    pin_file.chmod(0o600)
    hsm = SoftHSM(
        module=module,
        conf=conf,
        workdir=workdir,
        pin=pin,
        so_pin=so_pin,
        pin_file=pin_file,
        util=util,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))
        mp.setenv(hsm.pin_env, pin)
        yield hsm


@pytest.fixture
def softhsm_key(softhsm: SoftHSM) -> str:
    """A fresh AES-256 KEK (version 1) on the main token; returns its object label."""
    from tigerseal_pkcs11 import init_key

    label = softhsm.new_label()
    init_key(softhsm.uri(label))
    return label
