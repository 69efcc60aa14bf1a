"""The documented rotation procedure, end to end through the CLI, with everything configured.

Settings name a keyring, a pepper file, a database (blind-index keys and an encrypted column)
and a file audit sink; a directory holds encrypted files. After `tigerseal rotate`, `tigerseal
retire` refuses and names each kind; after each rewrap command it names one kind fewer; after
the last it retires, and every secret still works.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert
from tigerseal.audit import AuditKeys, FileAuditSink, verify_audit_file
from tigerseal.cli import cli
from tigerseal.config import reset_settings
from tigerseal.envelope import EncryptionService, reset_encryption_service
from tigerseal.passwords import add_pepper, load_pepper_file
from tigerseal.providers.file import FileKeyProvider, create_keyring
from tigerseal_sql import BlindIndex

from tests.unit.config.isolation import isolate
from tests.unit.passwords.conftest import make_context


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    reset_encryption_service()
    yield from isolate(monkeypatch, tmp_path)
    reset_encryption_service()


def _run(*args: str) -> Result:
    reset_encryption_service()  # each command is a fresh process in real life
    result = CliRunner().invoke(cli, list(args))
    reset_encryption_service()
    return result


def test_the_documented_procedure_retires_only_after_every_rewrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring_path = tmp_path / "keyring.json"
    keyring = create_keyring(keyring_path)
    svc = EncryptionService(keyring)
    peppers = tmp_path / "peppers.json"
    db = f"sqlite:///{tmp_path / 'app.db'}"
    audit = tmp_path / "audit.jsonl"
    files = tmp_path / "files"
    files.mkdir()
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", f"file://{keyring_path}")
    monkeypatch.setenv("TIGERSEAL_PASSWORD_PEPPER_FILE", str(peppers))
    monkeypatch.setenv("DATABASE_URL", db)
    monkeypatch.setenv("TIGERSEAL_AUDIT_SINKS", f"file://{audit}")
    reset_settings()

    # everything stored under version 1
    add_pepper(peppers, keyring, "p1")
    hashed = make_context(pepper=load_pepper_file(peppers, [keyring])).hash("pw-rotation-1")
    engine = create_engine(db)
    index = BlindIndex.load_or_create(engine, "accounts", service=svc)
    notes = Table(
        "notes", MetaData(), Column("id", Integer, primary_key=True), Column("body", Text)
    )
    notes.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(notes).values(id=1, body=str(svc.encrypt(b"note", {"n": "1"}))))
    sink = FileAuditSink(audit, keys=AuditKeys(encryption=svc))
    sink.write({"event_type": "login", "i": 1})
    sink.close()
    (files / "secret.bin").write_bytes(bytes(svc.encrypt(b"file", {"f": "1"})))

    assert _run("rotate").exit_code == 0
    retire = ("retire", "--below", "2", "--sql-column", "notes.body", str(files))

    steps = [
        ("pepper 'p1'", ("pepper", "rewrap")),
        ("blind-index key 'accounts'", ("sql", "rewrap-blind-index", db)),
        ("notes.body", ("sql", "rewrap", db, "notes", "-c", "body", "--no-progress")),
        ("audit", ("audit", "rewrap-keys")),
        ("secret.bin", ("rewrap", str(files))),
    ]
    for i, (named, rewrap) in enumerate(steps):
        refused = _run(*retire)
        assert refused.exit_code == 1, refused.output
        for still, _ in steps[i:]:
            assert still in refused.output, (still, refused.output)
        for done, _ in steps[:i]:
            assert done not in refused.output, (done, refused.output)
        doc = json.loads(keyring_path.read_text())
        assert doc["min_decryption_version"] == 0
        result = _run(*rewrap)
        assert result.exit_code == 0, (named, result.output)

    done = _run(*retire)
    assert done.exit_code == 0, done.output
    assert json.loads(keyring_path.read_text())["min_decryption_version"] == 2

    # every secret still works with version 1 retired
    fresh = FileKeyProvider(keyring_path)
    fresh_svc = EncryptionService(fresh)
    ctx = make_context(pepper=load_pepper_file(peppers, [fresh]))
    assert ctx.verify("pw-rotation-1", hashed)
    again = BlindIndex.load_or_create(engine, "accounts", service=fresh_svc)
    assert again.digest("t", "c", "v") == index.digest("t", "c", "v")
    with engine.connect() as conn:
        body = conn.execute(notes.select()).one().body
    assert fresh_svc.decrypt(body, {"n": "1"}) == b"note"
    assert fresh_svc.decrypt((files / "secret.bin").read_bytes(), {"f": "1"}) == b"file"
    report = verify_audit_file(audit, keys=AuditKeys(encryption=fresh_svc))
    assert report.ok, report.issues
    verified = _run("audit", "verify", str(audit))
    assert verified.exit_code == 0, verified.output
    engine.dispose()
