"""One shape of error translation for the three providers (issue 14 item 4)."""

from __future__ import annotations

from functools import partial

import pytest
from tigerseal.errors import (
    AccessDenied,
    DecryptionError,
    KeyProviderError,
    ProviderUnavailable,
    TigerSealError,
)
from tigerseal.spi.errors import ErrorTranslator, translated


def _translators() -> dict[str, ErrorTranslator]:
    from tigerseal_aws_kms._errors import translate as aws
    from tigerseal_pkcs11._errors import translate as pkcs11
    from tigerseal_vault._errors import translate as vault

    return {"aws-kms": aws, "vault": vault, "pkcs11": pkcs11}


def _sdk_errors() -> dict[str, tuple[Exception, type[TigerSealError]]]:
    import pkcs11.exceptions as p11
    import requests
    from botocore.exceptions import ClientError, EndpointConnectionError

    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform"}},
        "Encrypt",
    )
    return {
        "aws-kms": (EndpointConnectionError(endpoint_url="https://kms"), ProviderUnavailable),
        "aws-kms-denied": (denied, AccessDenied),
        "vault": (requests.exceptions.ConnectTimeout("slow"), ProviderUnavailable),
        "pkcs11": (p11.PinIncorrect(), AccessDenied),
    }


@pytest.mark.parametrize("name", ["aws-kms", "vault", "pkcs11"])
def test_every_provider_translates_with_one_signature(name: str) -> None:
    translate = _translators()[name]
    exc, expected = _sdk_errors()[name]
    mapped = translate(exc, operation="Encrypt", key_id="the-key")
    assert isinstance(mapped, expected)
    # Not the SDK's: returned unchanged (a bug of ours must surface as itself).
    bug = KeyError("ours")
    assert translate(bug, operation="Encrypt", key_id="the-key") is bug
    # Already a tigerseal error: unchanged.
    ours = DecryptionError("opaque")
    assert translate(ours, operation="Decrypt", key_id="the-key") is ours


@pytest.mark.parametrize("name", ["aws-kms", "vault", "pkcs11"])
def test_translated_raises_the_translation_chained(name: str) -> None:
    translate = _translators()[name]
    exc, expected = _sdk_errors()[name]
    with pytest.raises(expected) as info, translated(translate, operation="op", key_id="k"):
        raise exc
    assert info.value.__cause__ is exc
    with pytest.raises(KeyError), translated(translate, operation="op", key_id="k"):
        raise KeyError("ours")


def test_translated_can_drop_the_sdk_exception() -> None:
    translate = _translators()["vault"]
    exc, _ = _sdk_errors()["vault"]
    with (
        pytest.raises(ProviderUnavailable) as info,
        translated(translate, operation="op", key_id="k", chain=False),
    ):
        raise exc
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_extra_arguments_bind_with_partial() -> None:
    from tigerseal_aws_kms._errors import translate

    exc, _ = _sdk_errors()["aws-kms-denied"]
    bound: ErrorTranslator = partial(translate, timeout_hint=", connect_timeout=1s")
    mapped = bound(exc, operation="Encrypt", key_id="alias/x")
    assert isinstance(mapped, AccessDenied)
    assert "alias/x" in str(mapped)
    assert isinstance(mapped, KeyProviderError)
