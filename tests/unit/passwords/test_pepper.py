"""Peppers: held by a key provider, named in the hash, rotated at login."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from tigerseal.config import reset_settings
from tigerseal.errors import ConfigError, DecryptionError, NoMatchingKeyError, PasswordError
from tigerseal.passwords import (
    PepperKeyring,
    add_pepper,
    get_password_context,
    hash_password,
    load_pepper_file,
    verify_password,
)
from tigerseal.testing import FakeKeyProvider

from tests.unit.passwords.conftest import make_context


@pytest.fixture
def provider() -> FakeKeyProvider:
    from tigerseal.testing.fake import reset_fake_keys

    reset_fake_keys("peppers")
    return FakeKeyProvider("peppers")


def test_peppered_hash_names_its_pepper() -> None:
    ctx = make_context(pepper=PepperKeyring.generate("p7"))
    stored = ctx.hash("hunter2-long")
    assert stored.startswith("$ts-pepper$v=1,id=p7$argon2id$")
    assert ctx.verify("hunter2-long", stored)
    assert not ctx.verify("hunter2-lonG", stored)
    assert ctx.identify(stored) is ctx.default


def test_a_peppered_hash_is_useless_without_the_pepper() -> None:
    ctx = make_context(pepper=PepperKeyring.generate())
    stored = ctx.hash("pw-1234")
    inner = stored.split("$", 3)[3]
    assert not make_context().verify("pw-1234", "$" + inner)
    with pytest.raises(PasswordError, match="no pepper is configured"):
        make_context().verify("pw-1234", stored)
    with pytest.raises(PasswordError, match="no pepper is configured"):
        make_context(pepper=None).verify("pw-1234", stored)


def test_rotation_keeps_old_hashes_verifying_and_upgrades_them() -> None:
    p1 = PepperKeyring.generate("p1")
    old_ctx = make_context(pepper=p1)
    stored = old_ctx.hash("rotate-me")
    keys = {"p1": p1._peppers["p1"], "p2": PepperKeyring.generate("p2")._peppers["p2"]}
    new_ctx = make_context(pepper=PepperKeyring(keys, "p2"))
    ok, new = new_ctx.verify_and_update("rotate-me", stored)
    assert ok
    assert new is not None
    assert new.startswith("$ts-pepper$v=1,id=p2$")
    assert new_ctx.verify_and_update("rotate-me", new) == (True, None)


def test_unpeppered_hashes_are_upgraded_when_a_pepper_is_added() -> None:
    plain = make_context().hash("pw-5678")
    ok, new = make_context(pepper=PepperKeyring.generate()).verify_and_update("pw-5678", plain)
    assert ok
    assert new is not None
    assert new.startswith("$ts-pepper$")


def test_removed_pepper_is_a_clear_error() -> None:
    stored = make_context(pepper=PepperKeyring.generate("gone")).hash("pw-0000")
    with pytest.raises(ConfigError, match="pepper 'gone' is not in the pepper keyring"):
        make_context(pepper=PepperKeyring.generate("other")).verify("pw-0000", stored)


def test_keyring_validation() -> None:
    with pytest.raises(ConfigError, match="shorter than 32"):
        PepperKeyring({"p1": b"short"}, "p1")
    with pytest.raises(ConfigError, match="must match"):
        PepperKeyring({"bad id": b"x" * 32}, "bad id")
    with pytest.raises(ConfigError, match="not in the keyring"):
        PepperKeyring({"p1": b"x" * 32}, "p2")
    assert "x" * 32 not in repr(PepperKeyring({"p1": b"x" * 32}, "p1"))


def test_pepper_file_round_trip(tmp_path: Path, provider: FakeKeyProvider) -> None:
    path = tmp_path / "peppers.json"
    assert add_pepper(path, provider) == "p1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = load_pepper_file(path, [provider])
    assert first.current == "p1"
    assert add_pepper(path, provider) == "p2"
    second = load_pepper_file(path, [provider])
    assert (second.current, second.ids) == ("p2", ("p1", "p2"))
    assert second.mac(b"x", "p1") == first.mac(b"x", "p1")
    text = path.read_text()
    assert "p1" in text


def test_pepper_file_needs_the_right_provider(tmp_path: Path, provider: FakeKeyProvider) -> None:
    from tigerseal.testing.fake import reset_fake_keys

    path = tmp_path / "peppers.json"
    add_pepper(path, provider, "main")
    reset_fake_keys("elsewhere")
    with pytest.raises(NoMatchingKeyError, match="TIGERSEAL_KEY_PROVIDERS"):
        load_pepper_file(path, [FakeKeyProvider("elsewhere")])


def test_tampered_pepper_file_fails_to_unwrap(tmp_path: Path, provider: FakeKeyProvider) -> None:
    import base64

    path = tmp_path / "peppers.json"
    add_pepper(path, provider, "p1")
    data = json.loads(path.read_text())
    blob = bytearray(base64.b64decode(data["peppers"]["p1"]["blob"]))
    blob[-1] ^= 1
    data["peppers"]["p1"]["blob"] = base64.b64encode(bytes(blob)).decode()
    path.write_text(json.dumps(data))
    with pytest.raises(DecryptionError):
        load_pepper_file(path, [provider])


def test_pepper_id_swap_is_detected(tmp_path: Path, provider: FakeKeyProvider) -> None:
    # The pepper id is bound as encryption context: renaming an entry breaks it.
    path = tmp_path / "peppers.json"
    add_pepper(path, provider, "a")
    data = json.loads(path.read_text())
    data["peppers"]["b"] = data["peppers"].pop("a")
    data["current"] = "b"
    path.write_text(json.dumps(data))
    with pytest.raises(DecryptionError):
        load_pepper_file(path, [provider])


def test_bad_pepper_files(tmp_path: Path, provider: FakeKeyProvider) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_pepper_file(tmp_path / "missing.json", [provider])
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 2}')
    with pytest.raises(ConfigError, match="version-1"):
        load_pepper_file(bad, [provider])
    path = tmp_path / "p.json"
    add_pepper(path, provider, "p1")
    with pytest.raises(ConfigError, match="already"):
        add_pepper(path, provider, "p1")
    data = json.loads(path.read_text())
    data["peppers"]["p1"]["blob"] = "not base64!"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="malformed"):
        load_pepper_file(path, [provider])


def test_settings_load_the_pepper_file(
    tmp_path: Path,
    provider: FakeKeyProvider,
    monkeypatch: pytest.MonkeyPatch,
    fake_provider_registered: None,
) -> None:
    path = tmp_path / "peppers.json"
    add_pepper(path, provider, "prod1")
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", "fake://peppers")
    monkeypatch.setenv("TIGERSEAL_PASSWORD_PEPPER_FILE", str(path))
    monkeypatch.setenv("PASSWORD_HASH_ALGORITHM", "pbkdf2")
    monkeypatch.setenv("PBKDF2_ITERATIONS", "10000")
    reset_settings()
    stored = hash_password("from-settings")
    assert stored.startswith("$ts-pepper$v=1,id=prod1$pbkdf2-sha256$10000$")
    assert verify_password("from-settings", stored)
    assert get_password_context().pepper is not None
