"""The vault provider under the envelope (EncryptionService), and ``tigerseal vault`` commands."""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner
from tigerseal.envelope import (
    CachePolicy,
    EncryptedData,
    EncryptionService,
    get_encryption_service,
    reset_encryption_service,
)
from tigerseal.errors import ContextMismatchError, DecryptionError, KeyVersionRetired
from tigerseal_vault._provider import VaultTransitProvider

from tests.services.vault import VaultServer

pytestmark = [pytest.mark.integration, pytest.mark.vault]

MakeProvider = Callable[..., VaultTransitProvider]
CONTEXT = {"table": "tiger_accounts", "column": "private_key", "id": "42"}


def test_encrypt_decrypt_rotate_rewrap(
    vault_server: VaultServer, make_provider: MakeProvider
) -> None:
    provider = make_provider(vault_server.create_key())
    svc = EncryptionService([provider])
    ed = svc.encrypt("-----BEGIN PRIVATE KEY-----", CONTEXT)
    assert ed.key_version == 1
    assert svc.decrypt_to_string(ed, CONTEXT) == "-----BEGIN PRIVATE KEY-----"
    with pytest.raises(ContextMismatchError):
        svc.decrypt(ed, {**CONTEXT, "id": "43"})
    again = EncryptedData.parse(ed.json())
    assert svc.decrypt(again, CONTEXT) == b"-----BEGIN PRIVATE KEY-----"

    provider.rotate()
    assert svc.needs_rewrap(ed)
    moved = svc.rewrap(ed)
    assert moved.key_version == 2
    assert svc.decrypt(moved, CONTEXT) == b"-----BEGIN PRIVATE KEY-----"
    provider.retire_below(2)
    with pytest.raises(KeyVersionRetired, match="version 1"):
        svc.decrypt(ed, CONTEXT)
    assert svc.decrypt(moved, CONTEXT) == b"-----BEGIN PRIVATE KEY-----"


def test_tampered_wrapped_key_is_opaque(
    vault_server: VaultServer, make_provider: MakeProvider
) -> None:
    svc = EncryptionService([make_provider(vault_server.create_key())])
    raw = bytearray(bytes(svc.encrypt(b"secret", CONTEXT)))
    index = raw.find(b"vault:v1:") + 20
    raw[index] = ord("A") if raw[index] != ord("A") else ord("B")
    with pytest.raises(DecryptionError):
        svc.decrypt(bytes(raw), CONTEXT)


def test_streams(vault_server: VaultServer, make_provider: MakeProvider) -> None:
    svc = EncryptionService([make_provider(vault_server.create_key())], frame_size=4096)
    data = secrets.token_bytes(50_000)
    sealed, opened = io.BytesIO(), io.BytesIO()
    svc.encrypt_stream(io.BytesIO(data), sealed, CONTEXT)
    sealed.seek(0)
    svc.decrypt_stream(sealed, opened, CONTEXT)
    assert opened.getvalue() == data


def test_cache_makes_one_vault_call_per_window(
    vault_server: VaultServer, make_provider: MakeProvider
) -> None:
    provider = make_provider(vault_server.create_key())
    provider.key_info()  # the one-off key read, outside the measured window
    svc = EncryptionService([provider], cache=CachePolicy(max_age=3600, max_messages=100))
    before = provider.stats["requests"]
    messages = [svc.encrypt(f"value {i}", CONTEXT) for i in range(100)]
    assert [svc.decrypt_to_string(m, CONTEXT) for m in messages] == [
        f"value {i}" for i in range(100)
    ]
    assert provider.stats["requests"] - before == 1  # one datakey call for 100 messages
    assert svc.metrics["generate"] == 1
    assert svc.metrics["unwrap"] == 0
    svc.encrypt("value 101", CONTEXT)  # max_messages reached: a new window, one more call
    assert provider.stats["requests"] - before == 2
    # Another process (no cache shared) needs one unwrap per message, once.
    reader = EncryptionService([make_provider(provider.key_name)], cache=CachePolicy(max_age=3600))
    for m in messages[:10]:
        reader.decrypt(m, CONTEXT)
    assert reader.metrics["unwrap"] == 1


def test_bulk_rewrap_uses_batches(vault_server: VaultServer, make_provider: MakeProvider) -> None:
    provider = make_provider(vault_server.create_key())
    svc = EncryptionService([provider])
    messages = [svc.encrypt(f"v{i}", {"id": str(i)} if i % 2 else {}) for i in range(300)]
    provider.rotate()
    before = provider.stats["requests"]
    moved = svc.rewrap_many(messages)
    # 150 server-side rewraps in 1 request; 150 bound ones: 1 batch decrypt + 1 batch encrypt.
    assert provider.stats["requests"] - before == 3
    assert {m.key_version for m in moved} == {2}
    for i in (0, 1, 298, 299):
        assert svc.decrypt_to_string(moved[i], {"id": str(i)} if i % 2 else {}) == f"v{i}"


def test_vault_primary_with_backup_key(
    vault_server: VaultServer, make_provider: MakeProvider
) -> None:
    primary = make_provider(vault_server.create_key())
    backup = make_provider(vault_server.create_key(derived=True), derived=True)
    ed = EncryptionService([primary, backup]).encrypt(b"both", CONTEXT)
    assert len(ed.wrapped_keys) == 2
    assert EncryptionService([backup]).decrypt(ed, CONTEXT) == b"both"


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, vault_env: VaultServer) -> Iterator[VaultServer]:
    from tigerseal.config import reset_settings

    key = vault_env.create_key()
    monkeypatch.setenv("TIGERSEAL_KEY_PROVIDERS", f"vault://transit/{key}")
    monkeypatch.setenv("TIGERSEAL_CACHE_ENABLED", "false")
    reset_settings()
    reset_encryption_service()
    yield vault_env
    reset_encryption_service()
    reset_settings()


def test_get_encryption_service_from_settings(configured: VaultServer) -> None:
    svc = get_encryption_service()
    ed = svc.encrypt("tiger_id 12345", CONTEXT)
    assert ed.wrapped_keys[0].provider == "vault"
    assert svc.decrypt_to_string(ed, CONTEXT) == "tiger_id 12345"


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_init_key(vault_env: VaultServer) -> None:
    from tigerseal.cli import cli

    runner = CliRunner()
    name = f"cli-{secrets.token_hex(4)}"
    result = runner.invoke(cli, ["vault", "init-key", name])
    assert result.exit_code == 0, result.output
    assert f"created vault://transit/{name}" in result.output
    assert f'path "transit/encrypt/{name}" {{ capabilities = ["update"] }}' in result.output
    info = vault_env.key_info(name)
    assert info["type"] == "aes256-gcm96"
    assert info["exportable"] is False
    again = runner.invoke(cli, ["vault", "init-key", f"transit/{name}", "--no-policy"])
    assert again.exit_code == 0, again.output
    assert "exists" in again.output
    assert "path" not in again.output
    conflict = runner.invoke(cli, ["vault", "init-key", name, "--derived"])
    assert conflict.exit_code != 0

    derived = f"cli-d-{secrets.token_hex(4)}"
    result = runner.invoke(cli, ["vault", "init-key", derived, "--derived"])
    assert result.exit_code == 0, result.output
    assert vault_env.key_info(derived)["derived"] is True


def test_cli_init_key_errors(monkeypatch: pytest.MonkeyPatch, vault_server: VaultServer) -> None:
    from tigerseal.cli import main

    monkeypatch.setenv("VAULT_ADDR", vault_server.addr)
    with pytest.raises(SystemExit) as info:
        main(["vault", "init-key", "x"])
    # No token: a ConfigError (docs/cli.md: configuration), no traceback.
    assert info.value.code == 4
    monkeypatch.setenv("VAULT_TOKEN", vault_server.root_token)
    with pytest.raises(SystemExit):
        main(["vault", "init-key", "nowhere/x"])


def test_cli_policy() -> None:
    from tigerseal.cli import cli

    result = CliRunner().invoke(cli, ["vault", "policy", "transit/app", "--operator"])
    assert result.exit_code == 0, result.output
    assert 'path "transit/decrypt/app"' in result.output
    assert 'path "transit/keys/app/rotate"' in result.output


def test_core_rotate_command_rotates_a_vault_key(vault_env: VaultServer) -> None:
    from tigerseal.cli import cli

    key = vault_env.create_key()
    result = CliRunner().invoke(cli, ["rotate", "--uri", f"vault://transit/{key}"])
    assert result.exit_code == 0, result.output
    assert "version 1 -> 2" in result.output
    assert vault_env.key_info(key)["latest_version"] == 2
