"""`tigerseal rewrap` against real remote key stores: OpenBao (batching) and moto KMS (--force)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tigerseal.envelope import EncryptedData, EncryptionService
from tigerseal.plugins import key_provider_from_uri

from tests.services.moto import MotoServer
from tests.services.vault import VaultServer

pytestmark = [pytest.mark.integration]

CTX = {"table": "secrets", "column": "value"}


def _files(svc: EncryptionService, d: Path, n: int) -> list[Path]:
    d.mkdir()
    paths = []
    for i in range(n):
        p = d / f"m{i:04d}.tsl"
        ed = svc.encrypt(f"value {i}".encode(), {**CTX, "id": str(i)})
        p.write_bytes(bytes(ed) if i % 2 else (str(ed) + "\n").encode())  # binary and text forms
        paths.append(p)
    return paths


@pytest.fixture
def use_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EncryptionService]]:
    """The CLI's rewrap runs in this process on the service the test puts in the list."""
    holder: list[EncryptionService] = []
    monkeypatch.setattr("tigerseal.cli._crypto._service", lambda: holder[0])
    yield holder
    for svc in holder:
        svc.close()


@pytest.mark.vault
def test_vault_rewrap_batches_files_into_few_requests(
    vault_server: VaultServer, tmp_path: Path, use_service: list[EncryptionService]
) -> None:
    from tigerseal.cli._crypto import rewrap

    provider: Any = key_provider_from_uri(
        f"vault://transit/{vault_server.create_key()}",
        addr=vault_server.addr,
        token=vault_server.root_token,
    )
    svc = EncryptionService(provider)
    use_service.append(svc)
    paths = _files(svc, tmp_path / "data", 60)
    provider.rotate()
    before = provider.stats["requests"]
    result = CliRunner().invoke(rewrap, [str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert "60 rewrapped" in result.output
    # One batch request for the 60 files (plus at most a key-info refresh), not 60.
    assert provider.stats["requests"] - before <= 3, provider.stats
    for i, p in enumerate(paths):
        ed = EncryptedData.parse(p.read_bytes())
        assert ed.key_version == 2
        assert svc.decrypt(ed, {**CTX, "id": str(i)}) == f"value {i}".encode()


def _kms(moto: MotoServer, arn: str) -> Any:
    return key_provider_from_uri(
        f"aws-kms://{arn}",
        region="us-east-1",
        endpoint_url=moto.endpoint_url,
        connect_timeout=2,
        read_timeout=10,
        max_attempts=1,
    )


def _deny(provider: Any, message: str) -> None:
    """Answer every KMS call of ``provider`` with AccessDeniedException (real HTTP parsing)."""
    from botocore.awsrequest import AWSResponse

    body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()

    class _Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    def before_send(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 400, {"x-amzn-errortype": "AccessDeniedException"}, _Raw())

    provider._client.meta.events.register("before-send.kms", before_send)


@pytest.mark.aws_kms
def test_kms_rewrap_force_reencrypts_and_shows_provider_errors(
    moto: MotoServer,
    tmp_path: Path,
    use_service: list[EncryptionService],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tigerseal.cli import main
    from tigerseal.cli._crypto import rewrap

    arn = moto.client("us-east-1").create_key()["KeyMetadata"]["Arn"]
    provider = _kms(moto, arn)
    svc = EncryptionService(provider)
    use_service.append(svc)
    paths = _files(svc, tmp_path / "data", 4)
    old = [p.read_bytes() for p in paths]
    provider.rotate()

    plain = CliRunner().invoke(rewrap, [str(tmp_path / "data")])
    assert plain.exit_code == 0, plain.output
    assert "4 already current" in plain.output
    assert "--force" in plain.output  # says how to re-wrap version-less keys
    forced = CliRunner().invoke(rewrap, ["--force", str(tmp_path / "data")])
    assert forced.exit_code == 0, forced.output
    assert "4 rewrapped" in forced.output
    for i, (p, before) in enumerate(zip(paths, old, strict=True)):
        assert p.read_bytes() != before
        assert svc.decrypt(p.read_bytes(), {**CTX, "id": str(i)}) == f"value {i}".encode()

    denied = _kms(moto, arn)
    _deny(
        denied,
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
        "kms:ReEncryptFrom on resource: " + arn + " because no identity-based policy allows it",
    )
    use_service[0] = EncryptionService(denied)
    use_service.append(svc)
    with pytest.raises(SystemExit) as info:
        main(["rewrap", "--force", str(tmp_path / "data")])
    assert info.value.code == 1
    out = capsys.readouterr()
    assert "4 failed" in out.out
    assert "not authorized to perform: kms:ReEncryptFrom" in out.out
    assert "Traceback" not in out.out + out.err


@pytest.mark.vault
def test_rewrap_refuses_only_the_file_whose_header_would_outgrow_the_limit(
    vault_server: VaultServer, tmp_path: Path, use_service: list[EncryptionService]
) -> None:
    # Vault's blob grows by a byte from "vault:v9:" to "vault:v10:". A message whose header is
    # exactly at the 65,536-byte limit cannot be rewrapped: that one file is refused and left
    # as it is, and the other files of the same batch are rewrapped.
    from tigerseal.cli._crypto import rewrap
    from tigerseal.envelope._format import MAX_HEADER_SIZE

    provider: Any = key_provider_from_uri(
        f"vault://transit/{vault_server.create_key()}",
        addr=vault_server.addr,
        token=vault_server.root_token,
    )
    for _ in range(8):
        provider.rotate()
    svc = EncryptionService(provider)
    use_service.append(svc)
    d = tmp_path / "data"
    d.mkdir()
    probe = svc.encrypt(b"big", {"pad": ""}).header.size
    big_ctx = {"pad": "p" * (MAX_HEADER_SIZE - probe)}
    big = svc.encrypt(b"big", big_ctx)
    assert big.header.size == MAX_HEADER_SIZE
    assert big.key_version == 9
    (d / "a-big.tsl").write_bytes(bytes(big))
    small = [svc.encrypt(f"small {i}".encode(), CTX) for i in range(3)]
    for i, ed in enumerate(small):
        (d / f"b-small{i}.tsl").write_bytes(bytes(ed))
    provider.rotate()  # v10
    result = CliRunner().invoke(rewrap, [str(d)])
    assert result.exit_code != 0
    assert "3 rewrapped" in result.output, result.output
    assert "a-big.tsl" in result.output
    assert "65,536" in result.output
    for i in range(3):
        assert "b-small" not in result.output.split("rewrapped", 1)[1], result.output
        ed = EncryptedData.parse((d / f"b-small{i}.tsl").read_bytes())
        assert ed.key_version == 10
        assert svc.decrypt(ed, CTX) == f"small {i}".encode()
    assert (d / "a-big.tsl").read_bytes() == bytes(big)  # untouched, still decrypts
    assert svc.decrypt((d / "a-big.tsl").read_bytes(), big_ctx) == b"big"
