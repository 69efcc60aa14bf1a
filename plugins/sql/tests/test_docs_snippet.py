"""The model snippet of docs/plugins/sql.md runs as is, on SQLite, with a key configured."""

from __future__ import annotations

import re
import secrets
import sqlite3
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from tigerseal.config import reset_settings
from tigerseal.envelope import reset_encryption_service

DOC = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "sql.md"


def _model_snippet() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Encrypted columns bound to their row", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "docs/plugins/sql.md lost its model snippet"
    return match.group(1)


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A fresh directory (the snippet writes accounts.db) and a master key in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TIGERSEAL_KEY_PROVIDERS", raising=False)
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", secrets.token_hex(32))
    reset_settings()
    reset_encryption_service()
    yield
    reset_encryption_service()
    reset_settings()


def test_the_model_snippet_runs_on_sqlite(configured: None, tmp_path: Path) -> None:
    # A real module: SQLAlchemy resolves Mapped[...] annotations through sys.modules.
    module = types.ModuleType("sql_md_snippet")
    sys.modules[module.__name__] = module
    try:
        exec(compile(_model_snippet(), str(DOC), "exec"), module.__dict__)  # noqa: S102
    finally:
        sys.modules.pop(module.__name__, None)
    namespace = module.__dict__
    account = namespace["account"]
    assert account.private_key == namespace["pem"]  # type: ignore[attr-defined]
    assert account.tiger_id == "12345"  # type: ignore[attr-defined]
    namespace["engine"].dispose()  # type: ignore[attr-defined]
    assert b"BEGIN PRIVATE KEY" not in (tmp_path / "accounts.db").read_bytes()
    with sqlite3.connect(tmp_path / "accounts.db") as db:
        [(stored,)] = db.execute("SELECT tiger_id FROM tiger_accounts").fetchall()
    assert b"12345" not in bytes(stored)  # a tigerseal envelope, not the plaintext
