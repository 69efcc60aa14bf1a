"""The file:// keyring provider: contract, format, permissions, atomic writes, rotation."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from tigerseal.errors import ConfigError, KeyVersionRetired
from tigerseal.plugins import key_provider_from_uri
from tigerseal.providers.file import FileKeyProvider, create_keyring, from_uri, path_from_uri
from tigerseal.spi import KeyProvider
from tigerseal.testing.contract import ProviderContract


class TestFileContract(ProviderContract):
    @pytest.fixture
    def provider(self, tmp_path: Path) -> KeyProvider:
        return create_keyring(tmp_path / "a" / "keyring.json")

    @pytest.fixture
    def other_provider(self, tmp_path: Path) -> KeyProvider:
        return create_keyring(tmp_path / "b" / "keyring.json")

    @pytest.fixture
    def provider_secrets(self, tmp_path: Path) -> list[str | bytes]:
        found: list[str | bytes] = []
        for path in tmp_path.glob("*/keyring.json"):
            found.extend(entry["key"] for entry in json.loads(path.read_text())["keys"])
        return found


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_writes_0600_and_documented_format(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "keyring.json"
    provider = create_keyring(path)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    doc = json.loads(path.read_text())
    assert doc["format"] == "tigerseal-keyring"
    assert doc["format_version"] == 1
    assert doc["keyring_id"] == provider.key_id
    assert doc["keyring_id"].startswith("kr-")
    assert doc["current_version"] == 1
    assert doc["min_decryption_version"] == 0
    assert doc["suite"] == "AES-256-GCM-SIV"
    [entry] = doc["keys"]
    assert entry["version"] == 1
    assert entry["created"].endswith("Z")
    assert len(bytes.fromhex(entry["key"])) == 32
    assert entry["key"] not in repr(provider)
    assert provider.describe()["versions"] == [{"version": 1, "created": entry["created"]}]
    assert entry["key"] not in json.dumps(provider.describe())


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    first = create_keyring(path)
    with pytest.raises(ConfigError, match="already exists"):
        create_keyring(path)
    assert FileKeyProvider.from_path(path).key_id == first.key_id
    assert create_keyring(path, exist_ok=True).key_id == first.key_id
    second = create_keyring(path, overwrite=True)
    assert second.key_id != first.key_id
    with pytest.raises(ValueError, match="contradict"):
        create_keyring(path, overwrite=True, exist_ok=True)


CREATE_SCRIPT = """
import sys
from tigerseal.providers.file import create_keyring
print(create_keyring(sys.argv[1], exist_ok=True).key_id)
"""


def test_processes_racing_to_create_share_one_keyring(tmp_path: Path) -> None:
    path = tmp_path / "dev" / "keyring.json"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    ids = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert ids == {FileKeyProvider(path).key_id}


def test_two_keyrings_never_claim_each_others_keys(tmp_path: Path) -> None:
    one = create_keyring(tmp_path / "one.json")
    two = create_keyring(tmp_path / "two.json")
    wrapped = one.wrap(b"k" * 32, {})
    assert one.owns(wrapped)
    assert not two.owns(wrapped)


@pytest.mark.parametrize("bad_mode", [0o640, 0o604, 0o644, 0o660, 0o666])
def test_refuses_group_or_other_access(tmp_path: Path, bad_mode: int) -> None:
    path = tmp_path / "keyring.json"
    create_keyring(path)
    path.chmod(bad_mode)
    with pytest.raises(ConfigError, match=f"chmod 600 {path}"):
        FileKeyProvider(path)
    path.chmod(0o400)
    assert FileKeyProvider(path).key_version == 1


def test_missing_file_says_how_to_create(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tigerseal keygen"):
        FileKeyProvider(tmp_path / "nope.json")
    with pytest.raises(ConfigError, match="not a regular file"):
        FileKeyProvider(tmp_path)


def corrupt(doc: dict[str, object], field: str, value: object) -> dict[str, object]:
    changed = json.loads(json.dumps(doc))
    if field.startswith("keys."):
        changed["keys"][0][field[5:]] = value
    elif value is ...:
        del changed[field]
    else:
        changed[field] = value
    return changed


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("format", "other", "format is not"),
        ("format_version", 2, "format_version"),
        ("keyring_id", "short", "keyring_id"),
        ("suite", "AES-128-CBC", "suite"),
        ("current_version", 5, "current_version 5 has no key"),
        ("current_version", "1", "current_version must be"),
        ("min_decryption_version", 2, "above current_version"),
        ("min_decryption_version", True, "min_decryption_version must be"),
        ("keys", [], "non-empty list"),
        ("keys", ..., "non-empty list"),
        ("keys.key", "abcd", "64 lowercase hex"),
        ("keys.version", 0, "unique integers"),
        ("keys.created", None, "created"),
    ],
)
def test_malformed_keyring(tmp_path: Path, field: str, value: object, message: str) -> None:
    path = tmp_path / "keyring.json"
    create_keyring(path)
    doc = json.loads(path.read_text())
    path.write_text(json.dumps(corrupt(doc, field, value)))
    with pytest.raises(ConfigError, match=message) as info:
        FileKeyProvider(path)
    assert doc["keys"][0]["key"] not in str(info.value)


def test_duplicate_versions_and_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    create_keyring(path)
    doc = json.loads(path.read_text())
    doc["keys"].append(dict(doc["keys"][0]))
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="unique"):
        FileKeyProvider(path)
    path.write_text('{"keys": [{"key": "' + "ab" * 32 + '"')
    with pytest.raises(ConfigError, match="not JSON") as info:
        FileKeyProvider(path)
    assert "ab" * 32 not in str(info.value)
    assert info.value.__cause__ is None  # the JSON error could quote the key


def test_rotate_persists_and_retire(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    provider = create_keyring(path)
    old = provider.wrap(b"k" * 32, {"a": "1"})
    assert provider.rotate() == 2
    assert mode(path) == 0o600
    reopened = FileKeyProvider(path)
    assert reopened.key_version == 2
    assert reopened.versions == [1, 2]
    assert reopened.unwrap(old, {"a": "1"}) == b"k" * 32
    reopened.retire_below(2)
    assert json.loads(path.read_text())["min_decryption_version"] == 2
    with pytest.raises(KeyVersionRetired):
        FileKeyProvider(path).unwrap(old, {"a": "1"})
    with pytest.raises(ConfigError, match="between 0 and the current version 2"):
        reopened.retire_below(3)
    # No temporary files are left behind; the lock file stays (it is reused).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keyring.json", "keyring.json.lock"]


def test_other_instance_sees_rotation(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    writer = create_keyring(path)
    reader = FileKeyProvider(path)
    reader.reload_interval = 3600.0  # only the unknown-version path may trigger a reload
    writer.rotate()
    wrapped = writer.wrap(b"k" * 32, {})
    assert wrapped.key_version == 2
    assert reader.unwrap(wrapped, {}) == b"k" * 32  # reloads on the unknown version
    assert reader.key_version == 2
    writer.rotate()
    reader.reload_interval = 0.0
    assert reader.key_version == 3  # picked up by the periodic check


def test_replaced_keyring_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    provider = create_keyring(path)
    create_keyring(path, overwrite=True)
    with pytest.raises(ConfigError, match="replaced by another keyring"):
        provider.rotate()
    provider.reload_interval = 0.0
    with pytest.raises(ConfigError, match="replaced by another keyring"):
        provider.wrap(b"k" * 32, {})


ROTATE_SCRIPT = """
import sys
from tigerseal.providers.file import FileKeyProvider
provider = FileKeyProvider(sys.argv[1])
for _ in range(int(sys.argv[2])):
    provider.rotate()
"""


def test_concurrent_rotation_from_processes_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    create_keyring(path)
    procs = [
        subprocess.Popen([sys.executable, "-c", ROTATE_SCRIPT, str(path), "5"]) for _ in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    doc = json.loads(path.read_text())
    assert doc["current_version"] == 21
    assert [e["version"] for e in doc["keys"]] == list(range(1, 22))
    assert len({e["key"] for e in doc["keys"]}) == 21


def test_uri_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert path_from_uri("file:///etc/tigerseal/k.json") == Path("/etc/tigerseal/k.json")
    assert path_from_uri("file://localhost/etc/k.json") == Path("/etc/k.json")
    assert path_from_uri("file://.tigerseal/keyring.json") == Path(".tigerseal/keyring.json")
    assert path_from_uri("file://my%20keys/k.json") == Path("my keys/k.json")
    for bad in ("file://", "file://x.json?mode=1", "env://X"):
        with pytest.raises(ConfigError):
            path_from_uri(bad)
    monkeypatch.chdir(tmp_path)
    created = create_keyring(".tigerseal/keyring.json")
    provider = key_provider_from_uri("file://.tigerseal/keyring.json")
    assert isinstance(provider, FileKeyProvider)
    assert provider.key_id == created.key_id
    assert provider.uri == "file://.tigerseal/keyring.json"
    with pytest.raises(ConfigError, match="no options"):
        from_uri("file://.tigerseal/keyring.json", mode="x")


def test_umask_does_not_widen_mode(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        create_keyring(tmp_path / "keyring.json").rotate()
    finally:
        os.umask(old)
    assert mode(tmp_path / "keyring.json") == 0o600


@pytest.mark.parametrize("suite", ["AES-256-GCM-SIV", "AES-256-GCM"])
def test_a_keyring_from_a_host_with_the_other_cipher_works(tmp_path: Path, suite: str) -> None:
    # Issue 11 item 15: each wrapped key records its cipher, so the keyring's `suite` (the
    # creating host's cipher) must not make a GCM-SIV host and a GCM-only host refuse each other.
    path = tmp_path / "keyring.json"
    create_keyring(path)
    doc = json.loads(path.read_text())
    doc["suite"] = suite
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o600)
    provider = FileKeyProvider(path)
    dek = os.urandom(32)
    wrapped = provider.wrap(dek, {"k": "v"})
    assert provider.unwrap(wrapped, {"k": "v"}) == dek


def test_retire_is_a_deprecated_alias_of_retire_below(tmp_path: Path) -> None:
    """docs/providers/env-and-file.md documented ``provider.retire(n)``: it keeps working."""
    provider = create_keyring(tmp_path / "keyring.json")
    provider.rotate()
    with pytest.warns(DeprecationWarning, match=r"retire\(\) is deprecated; call retire_below"):
        provider.retire(2)
    assert provider.min_decryption_version == 2
