"""The guarded retire on a real OpenBao transit key: set_min_decryption_version, checked first."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine
from tigerseal.envelope import EncryptionService
from tigerseal.errors import KeyVersionRetired
from tigerseal.keyuse import KeyUseScan, KeyVersionInUse, retire
from tigerseal.passwords import add_pepper, load_pepper_file
from tigerseal.passwords._pepper import rewrap_pepper_file
from tigerseal_sql import BlindIndex
from tigerseal_sql.blind_index import rewrap_blind_index_keys
from tigerseal_vault._provider import from_uri

from tests.services.vault import VaultServer
from tests.unit.passwords.conftest import make_context

pytestmark = [pytest.mark.integration, pytest.mark.vault]


def test_vault_retire_waits_for_peppers_and_blind_index_keys(
    vault_server: VaultServer, tmp_path: Path
) -> None:
    key = vault_server.create_key()
    provider = from_uri(
        f"vault://transit/{key}", addr=vault_server.addr, token=vault_server.root_token
    )
    try:
        svc = EncryptionService(provider)
        peppers = tmp_path / "peppers.json"
        add_pepper(peppers, provider, "p1")
        stored = make_context(pepper=load_pepper_file(peppers, [provider])).hash("pw-vault-1")
        url = f"sqlite:///{tmp_path / 'app.db'}"
        engine = create_engine(url)
        index = BlindIndex.load_or_create(engine, "accounts", service=svc)
        provider.rotate()

        scan = KeyUseScan(pepper_files=(str(peppers),), database_urls=(url,))
        with pytest.raises(KeyVersionInUse, match="2 stored secret") as ei:
            retire(provider, 2, scan)
        assert sorted(u.what.split()[0] for u in ei.value.uses) == ["blind-index", "pepper"]
        assert vault_server.key_info(key)["min_decryption_version"] == 1

        assert rewrap_pepper_file(peppers, [provider]).rewrapped == 1  # Vault rewraps server side
        assert rewrap_blind_index_keys(engine, service=svc).rewrapped == 1
        retire(provider, 2, scan)
        assert vault_server.key_info(key)["min_decryption_version"] == 2

        assert make_context(pepper=load_pepper_file(peppers, [provider])).verify(
            "pw-vault-1", stored
        )
        again = BlindIndex.load_or_create(engine, "accounts", service=svc)
        assert again.digest("t", "c", "v") == index.digest("t", "c", "v")
        engine.dispose()
    finally:
        provider.close()


def test_without_the_guard_vault_refuses_the_old_pepper(
    vault_server: VaultServer, tmp_path: Path
) -> None:
    """The defect the guard prevents, on Vault: retiring first loses the pepper file."""
    key = vault_server.create_key()
    provider = from_uri(
        f"vault://transit/{key}", addr=vault_server.addr, token=vault_server.root_token
    )
    try:
        peppers = tmp_path / "peppers.json"
        add_pepper(peppers, provider, "p1")
        provider.rotate()
        provider.retire_below(2)
        with pytest.raises(KeyVersionRetired):
            load_pepper_file(peppers, [provider])
    finally:
        provider.close()
