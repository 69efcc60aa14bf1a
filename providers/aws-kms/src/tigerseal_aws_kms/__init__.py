"""AWS KMS for tigerseal: the ``aws-kms://`` key provider and a KMS-backed JWT signer.

Importing this package imports neither boto3 nor botocore: the registration hooks below name
their factories as ``"module:attr"`` paths, imported only when configuration builds one.

Example::

    from tigerseal import key_provider_from_uri
    kms = key_provider_from_uri("aws-kms://alias/tiger-creds?region=us-east-1")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tigerseal._lazy import lazy_exports
from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import ProviderSpec, TokenSignerSpec

if TYPE_CHECKING:
    from tigerseal_aws_kms._provider import AwsKmsProvider, RotationStatus
    from tigerseal_aws_kms._signer import KmsTokenSigner

__all__ = [
    "AwsKmsProvider",
    "KmsTokenSigner",
    "RotationStatus",
    "register_key_providers",
    "register_token_signers",
]


@hookimpl
def register_key_providers() -> list[ProviderSpec]:
    """The ``aws-kms`` key provider (factory imported only when configured)."""
    return [
        ProviderSpec(
            name="aws-kms",
            factory="tigerseal_aws_kms._provider:from_uri",
            description="AWS KMS: GenerateDataKey/Encrypt/Decrypt/ReEncrypt under one KMS key",
        )
    ]


@hookimpl
def register_token_signers() -> list[TokenSignerSpec]:
    """The ``aws-kms`` JWT signer (factory imported only when configured)."""
    return [
        TokenSignerSpec(
            name="aws-kms",
            factory="tigerseal_aws_kms._signer:signer_from_uri",
            description="JWT signing with an asymmetric AWS KMS key (ES256/RS256/PS256)",
        )
    ]


# Lazy public classes: importing them loads boto3's error module, so only on demand.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AwsKmsProvider": "tigerseal_aws_kms._provider",
        "RotationStatus": "tigerseal_aws_kms._provider",
        "KmsTokenSigner": "tigerseal_aws_kms._signer",
    },
)
