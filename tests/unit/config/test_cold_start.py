"""Cold start (issue 15.4): what a new process imports, checked by module, never by clock.

The figures are in docs/performance.md (benchmarks/bench_cold_start.py); these tests keep the
causes away: no pydantic (settings), no importlib.metadata or other built-in plugins (the
plugin registry), no PyJWT, argon2, bcrypt or click on the envelope path.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ENVELOPE_NEVER = (
    "pydantic",
    "pydantic_settings",
    "dotenv",
    "click",
    "jwt",
    "argon2",
    "bcrypt",
    "importlib.metadata",
    "tigerseal.audit._auditor",
    "tigerseal.ratelimit",
    "tigerseal.passwords",
    "tigerseal.tokens",
)


def _modules_after(code: str, cwd: Path, **env: str) -> set[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TIGERSEAL_") and k not in ("ENVIRONMENT", "ENCRYPTION_MASTER_KEY")
    }
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_import_and_first_encrypt_load_only_the_envelope(tmp_path: Path) -> None:
    loaded = _modules_after(
        "from tigerseal import get_encryption_service\n"
        "s = get_encryption_service()\n"
        "assert s.decrypt_to_string(s.encrypt('x', context={'t': '1'}), context={'t': '1'}) == 'x'",
        tmp_path,
        TIGERSEAL_ENCRYPTION_MASTER_KEY="a3f1" + secrets.token_hex(30),
    )
    assert not {m for m in loaded if m.split(".")[0] in ENVELOPE_NEVER or m in ENVELOPE_NEVER}


def test_seed_named_key_takes_the_same_fast_path(tmp_path: Path) -> None:
    loaded = _modules_after(
        "from tigerseal import get_encryption_service\nget_encryption_service().encrypt(b'x')",
        tmp_path,
        ENCRYPTION_MASTER_KEY="a3f1" + secrets.token_hex(30),
    )
    assert "pydantic" not in loaded
    assert "importlib.metadata" not in loaded


def test_production_builds_the_full_settings_first(tmp_path: Path) -> None:
    # Every production rule runs before the first key is used: the fast path steps aside.
    loaded = _modules_after(
        "from tigerseal import get_encryption_service\nget_encryption_service().encrypt(b'x')",
        tmp_path,
        TIGERSEAL_ENVIRONMENT="production",
        TIGERSEAL_ENCRYPTION_MASTER_KEY="a3f1" + secrets.token_hex(30),
        TIGERSEAL_JWT_SECRET=secrets.token_urlsafe(48),
    )
    assert "pydantic" in loaded


def test_cli_help_needs_no_settings_and_no_security_libraries(tmp_path: Path) -> None:
    loaded = _modules_after(
        "from tigerseal.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
        tmp_path,
    )
    assert not {m for m in loaded if m.split(".")[0] in ("pydantic", "jwt", "argon2", "bcrypt")}
