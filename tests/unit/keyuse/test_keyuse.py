"""The retire guard: every stored wrapped key is found, a failed check never means "no uses"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tigerseal.cli import cli
from tigerseal.envelope import EncryptionService
from tigerseal.errors import ConfigError, PluginError, UnsupportedOperation
from tigerseal.hookspecs import hookimpl
from tigerseal.keyuse import (
    KeyUse,
    KeyUseScan,
    KeyVersionInUse,
    dependents,
    file_key_uses,
    key_uses,
    retire,
)
from tigerseal.plugins import get_registry
from tigerseal.providers.env import EnvKeyProvider
from tigerseal.providers.file import FileKeyProvider, create_keyring

from tests.unit.config.isolation import isolate


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    yield from isolate(monkeypatch, tmp_path)


@pytest.fixture
def keyring(tmp_path: Path) -> FileKeyProvider:
    return create_keyring(tmp_path / "keyring.json")


def _messages(tmp_path: Path, svc: EncryptionService) -> Path:
    """One message in each stored form, plus files that are not messages."""
    d = tmp_path / "data"
    d.mkdir()
    ed = svc.encrypt(b"tiger", {"purpose": "test"})
    (d / "m.bin").write_bytes(bytes(ed))
    (d / "m.txt").write_text(str(ed) + "\n")
    (d / "m.json").write_text(ed.json())
    (d / "other.json").write_text(json.dumps({"not": "a message"}))
    (d / "readme.txt").write_text("hello")
    return d


def test_files_in_every_form_are_found_and_block_retire(
    tmp_path: Path, keyring: FileKeyProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tigerseal.config import reset_settings
    from tigerseal.envelope import reset_encryption_service

    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", keyring.uri)
    reset_settings()
    reset_encryption_service()
    svc = EncryptionService(keyring)
    d = _messages(tmp_path, svc)
    uses = file_key_uses([str(d)])
    assert sorted(Path(u.what.split()[-1]).name for u in uses) == ["m.bin", "m.json", "m.txt"]
    assert {u.version for u in uses} == {1}
    keyring.rotate()
    with pytest.raises(KeyVersionInUse, match="3 stored secret") as ei:
        retire(keyring, 2, KeyUseScan(paths=(str(d),)))
    assert "tigerseal rewrap" in str(ei.value)
    assert keyring.min_decryption_version == 0

    runner = CliRunner()
    result = runner.invoke(cli, ["rewrap", str(d / "m.bin")])
    reset_encryption_service()
    assert result.exit_code == 0, result.output
    assert "1 rewrapped" in result.output
    # the text and JSON forms are rewrapped by the application (svc.rewrap), then stored again
    for name in ("m.txt", "m.json"):
        text = (d / name).read_text()
        new = svc.rewrap(text)
        (d / name).write_text(new.json() if name.endswith(".json") else str(new))
    retire(keyring, 2, KeyUseScan(paths=(str(d),)))
    assert keyring.min_decryption_version == 2
    assert svc.decrypt((d / "m.txt").read_text(), {"purpose": "test"}) == b"tiger"


def test_a_corrupt_text_message_fails_the_check(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("ts1.@@@not-base64\x1b[2J")
    with pytest.raises(ConfigError, match="could not read") as ei:
        key_uses(KeyUseScan(paths=(str(bad),)))
    assert "\x1b" not in str(ei.value)
    with pytest.raises(ConfigError, match="does not exist"):
        key_uses(KeyUseScan(paths=(str(tmp_path / "missing"),)))


def test_only_the_retiring_providers_keys_and_old_versions_count(
    keyring: FileKeyProvider, tmp_path: Path
) -> None:
    other = create_keyring(tmp_path / "other.json")
    uses = [
        KeyUse("a", "file", keyring.key_id, 1),
        KeyUse("b", "file", keyring.key_id, 3),
        KeyUse("c", "file", other.key_id, 1),
        KeyUse("d", "vault", keyring.key_id, 1),
    ]
    assert [u.what for u in dependents(keyring, 3, uses)] == ["a"]


class _Plugin:
    def __init__(self, answer: object) -> None:
        self.answer = answer

    @hookimpl
    def report_key_uses(self, scan: KeyUseScan) -> object:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (RuntimeError("disk on fire"), "failed to report the key versions.*nothing was retired"),
        (["not a KeyUse"], "not a KeyUse"),
    ],
)
def test_a_failing_plugin_blocks_retire(
    keyring: FileKeyProvider, answer: object, match: str
) -> None:
    name = get_registry().register(_Plugin(answer), name="broken-keyuse")
    try:
        with pytest.raises(PluginError, match=match):
            retire(keyring, 1, KeyUseScan())
    finally:
        get_registry().unregister(name)
    assert keyring.min_decryption_version == 0


def test_a_plugin_answer_is_escaped_in_the_refusal(keyring: FileKeyProvider) -> None:
    keyring.rotate()
    use = KeyUse("evil\n\x1b[31mforged line", "file", keyring.key_id, 1, "run\rthis")
    name = get_registry().register(_Plugin([use]), name="evil-keyuse")
    try:
        with pytest.raises(KeyVersionInUse) as ei:
            retire(keyring, 2, KeyUseScan())
    finally:
        get_registry().unregister(name)
    text = str(ei.value)
    assert "\x1b" not in text
    assert "\r" not in text
    assert "evil\\n\\x1b[31mforged line" in text


def test_providers_that_cannot_retire_say_so() -> None:
    env = EnvKeyProvider("TS_KEYUSE_KEY", environ={"TS_KEYUSE_KEY": "ab" * 32})
    with pytest.raises(UnsupportedOperation, match="cannot retire"):
        retire(env, 1, KeyUseScan())


def test_retire_check_lists_without_retiring(
    tmp_path: Path, keyring: FileKeyProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tigerseal.config import reset_settings

    svc = EncryptionService(keyring)
    d = _messages(tmp_path, svc)
    keyring.rotate()
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", keyring.uri)
    monkeypatch.setenv("TIGERSEAL_AUDIT_SINKS", "logging://")
    reset_settings()
    result = CliRunner().invoke(cli, ["retire", "--below", "2", "--check", str(d)])
    assert result.exit_code == 1, result.output
    assert "3 stored wrapped keys checked, 3 below version 2" in result.output
    doc = json.loads(Path(keyring.uri.removeprefix("file://")).read_text())
    assert doc["min_decryption_version"] == 0


def test_with_autoload_off_an_unasked_key_storing_plugin_blocks_retire(
    keyring: FileKeyProvider,
) -> None:
    """tigerseal-sql stores keys; with autoload off and not registered, it cannot answer."""
    import tigerseal_sql
    from tigerseal.plugins import PluginRegistry, set_registry

    previous = set_registry(PluginRegistry(autoload=False))
    try:
        with pytest.raises(PluginError, match="tigerseal-sql stores wrapped keys"):
            retire(keyring, 1, KeyUseScan())
        get_registry().register(tigerseal_sql, name="sql")
        retire(keyring, 1, KeyUseScan())  # asked now: nothing uses version 0
    finally:
        set_registry(previous)
    assert keyring.min_decryption_version == 1


class _GeneratorPlugin:
    """A plugin answering with a generator that fails part-way, or with a non-iterable."""

    def __init__(self, answer: object) -> None:
        self.answer = answer

    @hookimpl
    def report_key_uses(self, scan: KeyUseScan) -> object:
        if self.answer == "generator":
            return self._gen()
        return self.answer

    def _gen(self) -> Iterator[KeyUse]:
        yield KeyUse("ok", "file", "x", 1)
        raise OSError("table \x1b[2J\rgone")


@pytest.mark.parametrize("answer", ["generator", 42])
def test_a_plugin_failing_while_its_answer_is_read_blocks_retire_cleanly(
    keyring: FileKeyProvider, answer: object
) -> None:
    """A lazily failing or malformed answer is a PluginError with escaped text, not a crash."""
    name = get_registry().register(_GeneratorPlugin(answer), name="lazy-keyuse")
    try:
        with pytest.raises(PluginError, match="nothing was retired") as ei:
            retire(keyring, 1, KeyUseScan())
    finally:
        get_registry().unregister(name)
    assert "\x1b" not in str(ei.value)
    assert "\r" not in str(ei.value)
    assert keyring.min_decryption_version == 0
