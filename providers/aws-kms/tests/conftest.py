"""Fixtures for the aws-kms provider tests: moto in-process (unit) and moto_server (integration)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.services.moto import FAKE_ENV

REGION = "us-east-1"
OTHER_REGION = "eu-west-1"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials; no shared config, profile, endpoint override or metadata lookup."""
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def mock_kms(aws_env: None) -> Iterator[Callable[[str], Any]]:
    """moto's in-process AWS; yields ``client(region)`` building plain boto3 KMS clients."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield lambda region=REGION: boto3.client("kms", region_name=region)


def create_key(client: Any, *, alias: str | None = None, multi_region: bool = False) -> str:
    """Create a symmetric key (and an alias) and return its ARN."""
    meta = client.create_key(Description="tigerseal test", MultiRegion=multi_region)["KeyMetadata"]
    if alias is not None:
        client.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    return str(meta["Arn"])


@pytest.fixture
def key_arn(mock_kms: Callable[[str], Any]) -> str:
    return create_key(mock_kms(REGION))
