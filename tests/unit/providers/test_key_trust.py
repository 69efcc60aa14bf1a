"""Which keys are trusted (issue 11 items 12, 13).

* Weak keys: one check (``tigerseal._weakness.key_weakness``) wherever a raw key enters, not
  only ``ENCRYPTION_MASTER_KEY``: any ``env://`` variable, its older ``_Vn`` versions, and every
  version of a keyring file (refused with ``ENVIRONMENT=production``).
* Keyring file trust: the file must belong to this process's user, its directory must not be
  writable by group or others, and a reload must never remove or alter an existing version.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from tigerseal.config import reset_settings
from tigerseal.errors import ConfigError, KeyProviderError
from tigerseal.providers.env import EnvKeyProvider
from tigerseal.providers.file import FileKeyProvider, create_keyring

#: Visibly not random, each for a different reason; none is in the "always refused" set.
WEAK_KEYS = {
    "example from the docs": "fedcba9876543210" * 4,
    "short pattern": "ab12" * 16,
    "few distinct bytes": "00" * 30 + "0102",
}


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", secrets.token_hex(32))
    monkeypatch.setenv("JWT_SECRET", secrets.token_urlsafe(48))
    monkeypatch.delenv("TIGERSEAL_KEY_PROVIDERS", raising=False)
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def development(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    reset_settings()
    yield
    reset_settings()


# -- weak keys (item 12) ----------------------------------------------------------------------
@pytest.mark.parametrize("weak", WEAK_KEYS.values(), ids=WEAK_KEYS.keys())
def test_weak_key_in_any_env_variable_is_refused_in_production(production: None, weak: str) -> None:
    with pytest.raises(ConfigError) as e:
        EnvKeyProvider("OTHER_KEY", environ={"OTHER_KEY": weak})
    assert "OTHER_KEY" in str(e.value)
    assert "production" in str(e.value)
    assert weak not in str(e.value)


@pytest.mark.parametrize("weak", WEAK_KEYS.values(), ids=WEAK_KEYS.keys())
def test_weak_older_version_is_refused_in_production(production: None, weak: str) -> None:
    env = {"MK": secrets.token_hex(32), "MK_VERSION": "2", "MK_V1": weak}
    with pytest.raises(ConfigError, match="MK_V1") as e:
        EnvKeyProvider("MK", environ=env)
    assert weak not in str(e.value)


@pytest.mark.parametrize("weak", WEAK_KEYS.values(), ids=WEAK_KEYS.keys())
def test_weak_keyring_version_is_refused_in_production(
    production: None, tmp_path: Path, weak: str
) -> None:
    path = tmp_path / "ring" / "keyring.json"
    create_keyring(path).rotate()
    doc = json.loads(path.read_text())
    doc["keys"][0]["key"] = weak
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="version 1") as e:
        FileKeyProvider(path)
    assert str(path) in str(e.value)
    assert weak not in str(e.value)


def test_weak_keys_still_load_outside_production(development: None, tmp_path: Path) -> None:
    weak = WEAK_KEYS["short pattern"]
    assert EnvKeyProvider("K", environ={"K": secrets.token_hex(32), "K_VERSION": "2",
                                        "K_V1": weak}).versions == [1, 2]  # fmt: skip
    path = tmp_path / "ring" / "keyring.json"
    create_keyring(path)
    doc = json.loads(path.read_text())
    doc["keys"][0]["key"] = weak
    path.write_text(json.dumps(doc))
    assert FileKeyProvider(path).versions == [1]


def test_trivial_keys_are_refused_everywhere(development: None) -> None:
    with pytest.raises(ConfigError, match="K_V1"):
        EnvKeyProvider("K", environ={"K": secrets.token_hex(32), "K_VERSION": "2",
                                     "K_V1": "0" * 64})  # fmt: skip


# -- keyring file owner and directory (item 13) -----------------------------------------------
def test_keyring_owned_by_another_user_is_refused(development: None, tmp_path: Path) -> None:
    path = tmp_path / "ring" / "keyring.json"
    create_keyring(path)
    os.chown(path, 65534, -1)  # tests run as root; 65534 is "nobody"
    with pytest.raises(ConfigError) as e:
        FileKeyProvider(path)
    message = str(e.value)
    assert str(path) in message
    assert "65534" in message
    assert f"uid {os.geteuid()}" in message
    assert "chown" in message


def test_owner_check_is_injectable(
    development: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tigerseal.providers.file as file_module

    path = tmp_path / "ring" / "keyring.json"
    create_keyring(path)
    monkeypatch.setattr(file_module, "expected_owner", lambda: os.geteuid() + 1)
    with pytest.raises(ConfigError, match="owned by uid"):
        FileKeyProvider(path)


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o1777])
def test_keyring_in_a_directory_others_can_write_is_refused(
    development: None, tmp_path: Path, mode: int
) -> None:
    directory = tmp_path / "ring"
    path = directory / "keyring.json"
    create_keyring(path)
    directory.chmod(mode)
    with pytest.raises(ConfigError) as e:
        FileKeyProvider(path)
    assert str(directory) in str(e.value)
    assert "chmod go-w" in str(e.value)
    directory.chmod(0o755)
    FileKeyProvider(path)  # a directory only its owner can write is fine


def test_keyring_directory_owned_by_another_user_is_refused(
    development: None, tmp_path: Path
) -> None:
    directory = tmp_path / "ring"
    path = directory / "keyring.json"
    create_keyring(path)
    os.chown(directory, 65534, -1)
    with pytest.raises(ConfigError, match="65534"):
        FileKeyProvider(path)


# -- reloads never drop or change versions (item 13) ------------------------------------------
def _rewrite(path: Path, **edits: object) -> None:
    doc = json.loads(path.read_text())
    doc.update(edits)
    tmp = path.with_name("replacement.json")
    tmp.write_text(json.dumps(doc))
    tmp.chmod(0o600)
    os.replace(tmp, path)  # a new inode: the provider notices at its next check


def test_reload_that_alters_a_version_is_refused(development: None, tmp_path: Path) -> None:
    path = tmp_path / "ring" / "keyring.json"
    provider = create_keyring(path)
    provider.reload_interval = 0
    doc = json.loads(path.read_text())
    attacker_key = secrets.token_hex(32)
    doc["keys"][0]["key"] = attacker_key
    _rewrite(path, keys=doc["keys"])
    with pytest.raises(KeyProviderError) as e:
        provider.wrap(b"k" * 32, {})
    message = str(e.value)
    assert str(path) in message
    assert "version 1" in message
    assert "changed" in message
    assert attacker_key not in message
    # Still refused on the next call: nothing is wrapped under the replaced key.
    with pytest.raises(KeyProviderError):
        provider.wrap(b"k" * 32, {})


def test_reload_that_drops_versions_is_refused(development: None, tmp_path: Path) -> None:
    path = tmp_path / "ring" / "keyring.json"
    provider = create_keyring(path)
    provider.rotate()
    provider.reload_interval = 0
    doc = json.loads(path.read_text())
    attacker = {"version": 3, "created": "2026-01-01T00:00:00Z", "key": secrets.token_hex(32)}
    _rewrite(path, keys=[doc["keys"][0], attacker], current_version=3)
    with pytest.raises(KeyProviderError, match="version 2") as e:
        provider.wrap(b"k" * 32, {})
    assert "removed" in str(e.value)
    with pytest.raises(KeyProviderError):
        provider.reload()


def test_reload_accepts_rotation_and_retirement_by_another_process(
    development: None, tmp_path: Path
) -> None:
    path = tmp_path / "ring" / "keyring.json"
    provider = create_keyring(path)
    provider.reload_interval = 0
    other = FileKeyProvider(path)
    assert other.rotate() == 2
    other.retire_below(2)
    assert provider.key_version == 2
    assert provider.min_decryption_version == 2


# -- red-team variants (issue 11 items 12, 13) -------------------------------------------------
SALT = "5a" * 4 + secrets.token_hex(12)


@pytest.mark.parametrize(
    "weak", ["passwordpassword", "dev-passphrase-for-tigerseal", "abcdefghijklmnopqrst"]
)
def test_weak_passphrase_is_refused_in_production(production: None, weak: str) -> None:
    """Passphrase mode (?kdf=pbkdf2): the derived key looks random, so check the passphrase."""
    env = {"PP": secrets.token_urlsafe(24), "PP_VERSION": "2", "PP_V1": weak, "PP_SALT": SALT}
    with pytest.raises(ConfigError, match="PP_V1") as e:
        EnvKeyProvider("PP", environ=env, kdf="pbkdf2", iterations=100_000)
    assert "production" in str(e.value)
    assert weak not in str(e.value)
    with pytest.raises(ConfigError, match="PP"):
        EnvKeyProvider("PP", environ={"PP": weak, "PP_SALT": SALT}, kdf="pbkdf2",
                       iterations=100_000)  # fmt: skip
    strong = {"PP": "purple monkey dishwasher 42", "PP_SALT": SALT}
    assert EnvKeyProvider("PP", environ=strong, kdf="pbkdf2", iterations=100_000).versions == [1]


def test_weak_passphrase_still_loads_outside_production(development: None) -> None:
    env = {"PP": "passwordpassword", "PP_SALT": SALT}
    assert EnvKeyProvider("PP", environ=env, kdf="pbkdf2", iterations=100_000).versions == [1]


def test_symlinked_keyring_in_a_directory_others_can_write_is_refused(
    development: None, tmp_path: Path
) -> None:
    """The directory that matters is the one holding the file, not the one holding the link."""
    shared = tmp_path / "shared"
    create_keyring(shared / "keyring.json")
    shared.chmod(0o777)  # anyone can rename a file of their choosing over the keyring here
    safe = tmp_path / "safe"
    safe.mkdir(mode=0o700)
    link = safe / "keyring.json"
    link.symlink_to(shared / "keyring.json")
    with pytest.raises(ConfigError) as e:
        FileKeyProvider(link)
    assert str(shared) in str(e.value)
    assert "chmod go-w" in str(e.value)
    shared.chmod(0o700)
    assert FileKeyProvider(link).versions == [1]  # links themselves are fine


def test_keyring_behind_a_symlinked_directory_is_checked_there(
    development: None, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    create_keyring(shared / "keyring.json")
    shared.chmod(0o777)
    (tmp_path / "conf").symlink_to(shared, target_is_directory=True)
    with pytest.raises(ConfigError, match="chmod go-w"):
        FileKeyProvider(tmp_path / "conf" / "keyring.json")


def test_reload_that_moves_current_back_is_refused(development: None, tmp_path: Path) -> None:
    """tigerseal never lowers current_version: a file that does was edited outside it, and
    would make the next messages wrap under an older (perhaps retired-for-a-reason) key."""
    path = tmp_path / "ring" / "keyring.json"
    provider = create_keyring(path)
    provider.rotate()
    provider.reload_interval = 0
    _rewrite(path, current_version=1)
    with pytest.raises(KeyProviderError, match="current version") as e:
        provider.wrap(b"k" * 32, {})
    assert str(path) in str(e.value)
    with pytest.raises(KeyProviderError):
        provider.wrap(b"k" * 32, {})


def test_reload_that_adds_a_version_is_logged(
    development: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A new version (another process rotated) is accepted, and said so in the log: if nobody
    rotated, someone who can write the keyring chose the key the next message wraps under."""
    path = tmp_path / "ring" / "keyring.json"
    provider = create_keyring(path)
    provider.reload_interval = 0
    FileKeyProvider(path).rotate()
    with caplog.at_level("WARNING", logger="tigerseal.providers.file"):
        assert provider.key_version == 2
    messages = [r.getMessage() for r in caplog.records if r.name == "tigerseal.providers.file"]
    assert any(str(path) in m and "version 2" in m for m in messages), messages


def test_keyring_is_not_created_through_a_link_planted_in_another_users_directory(
    development: None, tmp_path: Path
) -> None:
    """Creating a keyring (first use of the development keyring, `tigerseal keygen PATH`) in a
    directory someone else controls is refused before anything is written: a dangling symlink
    planted there must not make tigerseal create a file wherever it points."""
    planted = tmp_path / "shared"
    planted.mkdir()
    victim = tmp_path / "victim.json"
    (planted / "keyring.json").symlink_to(victim)
    os.chown(planted, 65534, -1)  # the other user's directory (tests run as root)
    with pytest.raises(ConfigError, match="65534"):
        create_keyring(planted / "keyring.json", exist_ok=True)
    assert not victim.exists()
    assert sorted(p.name for p in planted.iterdir()) == ["keyring.json"]


def test_keyring_path_naming_a_fifo_is_refused_without_hanging(
    development: None, tmp_path: Path
) -> None:
    """Opening a named pipe for reading blocks until a writer comes: the keyring is opened
    non-blocking, so a FIFO (a planted link, a mistyped path) is an error, not a hung start."""
    import threading

    directory = tmp_path / "ring"
    directory.mkdir(mode=0o700)
    os.mkfifo(directory / "keyring.json", 0o600)
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            FileKeyProvider(directory / "keyring.json")
        except BaseException as exc:  # reported to the test thread
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(10)  # generous: the fixed code answers at once, the unfixed one never does
    if worker.is_alive():
        with open(directory / "keyring.json", "wb"):  # unblock the reader before failing
            pass
        worker.join(5)
        pytest.fail("opening a FIFO keyring blocked")
    assert isinstance(outcome[0], ConfigError)
    assert "not a regular file" in str(outcome[0])


def test_retired_weak_keyring_version_no_longer_blocks_production(
    production: None, tmp_path: Path
) -> None:
    """The refusal says: rotate, rewrap, retire the weak version. tigerseal never removes a
    version, so once retired (below min_decryption_version, never used again) it must not keep
    the keyring from loading, or that advice leads nowhere."""
    path = tmp_path / "ring" / "keyring.json"
    create_keyring(path).rotate()
    doc = json.loads(path.read_text())
    doc["keys"][0]["key"] = WEAK_KEYS["short pattern"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="version 1"):
        FileKeyProvider(path)  # still usable for decryption: refused
    _rewrite(path, min_decryption_version=2)
    assert FileKeyProvider(path).min_decryption_version == 2
