"""Unit tests of the aws-kms provider against moto's in-process AWS (``mock_aws``).

Faults moto does not model (a disabled key refusing calls, throttling, IAM denials) are
injected with botocore's Stubber or a ``before-send`` event hook on a real client.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from tigerseal.errors import (
    AccessDenied,
    ConfigError,
    ContextMismatchError,
    DecryptionError,
    EncryptionError,
    KeyDisabled,
    KeyNotFound,
    KeyProviderError,
    NoMatchingKeyError,
    ProviderUnavailable,
    UnsupportedOperation,
)
from tigerseal.plugins import key_provider_from_uri
from tigerseal.spi import WrappedKey
from tigerseal_aws_kms import AwsKmsProvider
from tigerseal_aws_kms._options import parse_arn

from .conftest import OTHER_REGION, REGION, create_key

Client = Callable[..., Any]
CTX = {"tenant": "t-1", "column": "private_key"}


def provider(uri: str, **options: Any) -> AwsKmsProvider:
    built = key_provider_from_uri(uri, **options)
    assert isinstance(built, AwsKmsProvider)
    return built


# -- registration and laziness ---------------------------------------------------------------
def test_importing_the_package_does_not_import_boto3() -> None:
    code = (
        "import sys, tigerseal, tigerseal_aws_kms\n"
        "tigerseal_aws_kms.register_key_providers(); tigerseal_aws_kms.register_token_signers()\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'eager SDK'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_registered_through_the_entry_point(key_arn: str) -> None:
    built = key_provider_from_uri(f"aws-kms://{key_arn}")
    assert type(built).__name__ == "AwsKmsProvider"
    assert built.scheme == "aws-kms"


# -- identity: every key form resolves to the ARN --------------------------------------------
@pytest.mark.parametrize("form", ["arn", "key-id", "alias", "alias-arn"])
def test_every_key_form_records_the_key_arn(mock_kms: Client, form: str) -> None:
    arn = create_key(mock_kms(REGION), alias="alias/tiger-creds")
    ref = parse_arn(arn)
    assert ref is not None
    key = {
        "arn": arn,
        "key-id": ref.resource,
        "alias": "alias/tiger-creds",
        "alias-arn": f"arn:aws:kms:{REGION}:{ref.account}:alias/tiger-creds",
    }[form]
    p = provider(f"aws-kms://{key}")
    assert "DescribeKey" not in p.kms_calls()  # resolution is lazy
    dk = p.generate_data_key(CTX)
    assert dk.wrapped.key_id == arn == p.key_id
    assert dk.wrapped.key_version == 0 == p.key_version
    p.generate_data_key(CTX)
    assert p.kms_calls().get("DescribeKey", 0) == (0 if form == "arn" else 1)
    assert p.unwrap(dk.wrapped, CTX) == dk.plaintext


def test_alias_is_resolved_once_and_pinned(mock_kms: Client) -> None:
    client = mock_kms(REGION)
    first = create_key(client, alias="alias/moving")
    p = provider("aws-kms://alias/moving")
    assert p.key_id == first
    second = create_key(client)
    client.update_alias(AliasName="alias/moving", TargetKeyId=second)
    # Re-pointing the alias does not silently switch a running provider to another key.
    assert p.generate_data_key(CTX).wrapped.key_id == first


def test_blob_is_the_kms_ciphertext_bound_to_the_context(mock_kms: Client, key_arn: str) -> None:
    client = mock_kms(REGION)
    dk = provider(f"aws-kms://{key_arn}").generate_data_key(CTX)
    resp = client.decrypt(CiphertextBlob=dk.wrapped.blob, EncryptionContext=CTX, KeyId=key_arn)
    assert resp["Plaintext"] == dk.plaintext
    with pytest.raises(client.exceptions.InvalidCiphertextException):
        client.decrypt(CiphertextBlob=dk.wrapped.blob, KeyId=key_arn)


def test_wrap_uses_encrypt_and_rejects_bad_data_keys(key_arn: str) -> None:
    p = provider(f"aws-kms://{key_arn}")
    dek = bytes(range(32))
    w = p.wrap(dek, CTX)
    assert p.unwrap(w, CTX) == dek
    assert p.kms_calls() == {"Encrypt": 1, "Decrypt": 1}
    for bad in (b"", b"x" * 31, b"x" * 33, "x" * 32):
        with pytest.raises(EncryptionError):
            p.wrap(bad, CTX)  # type: ignore[arg-type]


def test_context_values_must_be_strings(key_arn: str) -> None:
    with pytest.raises(EncryptionError, match="strings"):
        provider(f"aws-kms://{key_arn}").generate_data_key({"n": 1})  # type: ignore[dict-item]


# -- wrong context, wrong key ------------------------------------------------------------------
def test_context_mismatch_is_a_decryption_error(key_arn: str) -> None:
    p = provider(f"aws-kms://{key_arn}")
    dk = p.generate_data_key(CTX)
    for ctx in ({}, {**CTX, "column": "other"}, {**CTX, "extra": ""}):
        with pytest.raises(DecryptionError) as info:
            p.unwrap(dk.wrapped, ctx)
        assert "wrong encryption context" in str(info.value)


def test_the_envelope_catches_contexts_that_moto_confuses(key_arn: str) -> None:
    from tigerseal.envelope import EncryptionService

    svc = EncryptionService(provider(f"aws-kms://{key_arn}"))
    ed = svc.encrypt(b"x", {"ab": ""})
    with pytest.raises(ContextMismatchError):
        svc.decrypt(ed, {"a": "b"})


def test_unwrap_is_pinned_to_the_configured_key(mock_kms: Client) -> None:
    client = mock_kms(REGION)
    mine = provider(f"aws-kms://{create_key(client)}")
    theirs = provider(f"aws-kms://{create_key(client)}")
    foreign = theirs.generate_data_key(CTX).wrapped
    assert not mine.owns(foreign)
    with pytest.raises(NoMatchingKeyError, match="discovery=1"):
        mine.unwrap(foreign, CTX)
    assert mine.kms_calls().get("Decrypt", 0) == 0  # refused before any call
    # A foreign blob relabelled with our key id: KMS itself refuses it under the pinned KeyId.
    relabelled = WrappedKey("aws-kms", mine.key_id, 0, foreign.blob)
    with pytest.raises(DecryptionError):
        mine.unwrap(relabelled, CTX)


def test_non_arn_key_ids_in_a_header_are_never_owned(key_arn: str) -> None:
    p = provider(f"aws-kms://{key_arn}")
    blob = p.generate_data_key({}).wrapped.blob
    for key_id in ("alias/x", key_arn.split("/")[-1], "", key_arn.replace(":key/", ":alias/")):
        w = WrappedKey("aws-kms", key_id, 0, blob)
        assert not p.owns(w)
        with pytest.raises(NoMatchingKeyError):
            p.unwrap(w, {})


# -- multi-key, multi-region -------------------------------------------------------------------
def test_two_keys_in_two_regions_each_unwrap_the_same_data_key(mock_kms: Client) -> None:
    east = provider(f"aws-kms://{create_key(mock_kms(REGION))}")
    west = provider(f"aws-kms://{create_key(mock_kms(OTHER_REGION))}")
    dk = east.generate_data_key(CTX)
    second = west.wrap(dk.plaintext, CTX)
    assert west.region == OTHER_REGION
    assert east.unwrap(dk.wrapped, CTX) == west.unwrap(second, CTX) == dk.plaintext
    assert not east.owns(second)
    assert not west.owns(dk.wrapped)


def test_envelope_with_two_regions_decrypts_with_either(mock_kms: Client) -> None:
    from tigerseal.envelope import EncryptionService

    east = provider(f"aws-kms://{create_key(mock_kms(REGION))}")
    west = provider(f"aws-kms://{create_key(mock_kms(OTHER_REGION))}")
    ed = EncryptionService([east, west]).encrypt(b"broker secret", CTX)
    assert {w.key_id for w in ed.wrapped_keys} == {east.key_id, west.key_id}
    for only in (east, west):
        assert EncryptionService([only]).decrypt(ed, CTX) == b"broker secret"
    with pytest.raises(ContextMismatchError):
        EncryptionService([west]).decrypt(ed, {"tenant": "t-2"})


def test_multi_region_replica_owns_and_unwraps_the_primarys_keys(aws_env: None) -> None:
    # moto truncates mrk- key ids inside its ciphertexts (36 bytes), so no MRK ciphertext
    # decrypts there at all; the KMS side is stubbed instead and the test checks what the
    # provider sends: Decrypt pinned to the replica of its own region, as the ESDK does.
    mrk = "mrk-1234abcd12ab34cd56ef1234567890ab"
    primary_arn = f"arn:aws:kms:{REGION}:111122223333:key/{mrk}"
    replica_arn = f"arn:aws:kms:{OTHER_REGION}:111122223333:key/{mrk}"
    replica = stubbed(replica_arn, region=OTHER_REGION)
    from_primary = WrappedKey("aws-kms", primary_arn, 0, b"\x02" * 150)
    assert replica.owns(from_primary)
    dek = bytes(range(32))
    replica.stub.add_response(
        "decrypt",
        {"KeyId": replica_arn, "Plaintext": dek, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
        {"CiphertextBlob": from_primary.blob, "KeyId": replica_arn, "EncryptionContext": CTX},
    )
    assert replica.unwrap(from_primary, CTX) == dek
    replica.stub.assert_no_pending_responses()
    # A non-MRK key with the same resource id pattern in another region is not a replica.
    single = stubbed(f"arn:aws:kms:{OTHER_REGION}:111122223333:key/{SINGLE}", region=OTHER_REGION)
    assert not single.owns(
        WrappedKey("aws-kms", f"arn:aws:kms:{REGION}:111122223333:key/{SINGLE}", 0, b"x")
    )


def test_multi_region_keys_from_moto_resolve_and_wrap(mock_kms: Client) -> None:
    client = mock_kms(REGION)
    arn = create_key(client, multi_region=True)
    key_id = arn.rsplit("/", 1)[1]
    replica_arn = client.replicate_key(KeyId=key_id, ReplicaRegion=OTHER_REGION)[
        "ReplicaKeyMetadata"
    ]["Arn"]
    primary = provider(f"aws-kms://{key_id}")
    assert primary.key_id == arn
    assert primary.options.key.is_multi_region
    replica = provider(f"aws-kms://{replica_arn}")
    wrapped = primary.wrap(bytes(32), CTX)
    assert replica.owns(wrapped)
    assert primary.owns(replica.wrap(bytes(32), CTX))


def test_mrk_matching_needs_same_account_and_key_id(mock_kms: Client) -> None:
    client = mock_kms(REGION)
    arn = create_key(client, multi_region=True)
    p = provider(f"aws-kms://{arn}")
    blob = p.generate_data_key({}).wrapped.blob
    ref = parse_arn(arn)
    assert ref is not None
    other_account = arn.replace(f":{ref.account}:", ":999999999999:").replace(REGION, OTHER_REGION)
    other_key = arn.replace(ref.resource, "mrk-" + "0" * 32)
    for key_id in (other_account, other_key):
        assert not p.owns(WrappedKey("aws-kms", key_id, 0, blob))


# -- discovery ---------------------------------------------------------------------------------
def test_discovery_is_limited_to_the_allow_list(mock_kms: Client) -> None:
    client = mock_kms(REGION)
    mine_arn, other_arn = create_key(client), create_key(client)
    west_arn = create_key(mock_kms(OTHER_REGION))
    account = parse_arn(mine_arn).account  # type: ignore[union-attr]
    other = provider(f"aws-kms://{other_arn}").generate_data_key(CTX)
    west = provider(f"aws-kms://{west_arn}").generate_data_key(CTX)

    by_account = provider(f"aws-kms://{mine_arn}?discovery=1&allowed_accounts={account}")
    assert by_account.owns(other.wrapped)
    assert by_account.unwrap(other.wrapped, CTX) == other.plaintext
    # Another region's key in an allowed account: decrypted with a client for that region.
    assert by_account.unwrap(west.wrapped, CTX) == west.plaintext

    by_key = provider(f"aws-kms://{mine_arn}", discovery=True, allowed_keys=[west_arn])
    assert by_key.unwrap(west.wrapped, CTX) == west.plaintext
    assert not by_key.owns(other.wrapped)
    with pytest.raises(NoMatchingKeyError, match="allowed_accounts"):
        by_key.unwrap(other.wrapped, CTX)

    elsewhere = provider(f"aws-kms://{mine_arn}?discovery=1&allowed_accounts=999999999999")
    assert not elsewhere.owns(other.wrapped)
    # Discovery still checks the context.
    with pytest.raises(DecryptionError):
        by_account.unwrap(other.wrapped, {})


def test_discovery_with_a_given_client_stays_in_its_region(mock_kms: Client) -> None:
    mine = create_key(mock_kms(REGION))
    west = provider(f"aws-kms://{create_key(mock_kms(OTHER_REGION))}").generate_data_key({})
    account = parse_arn(mine).account  # type: ignore[union-attr]
    p = provider(
        f"aws-kms://{mine}?discovery=1&allowed_accounts={account}", client=mock_kms(REGION)
    )
    assert not p.owns(west.wrapped)


# -- rewrap (ReEncrypt) ------------------------------------------------------------------------
def test_rewrap_is_server_side_reencrypt(key_arn: str) -> None:
    p = provider(f"aws-kms://{key_arn}")
    dk = p.generate_data_key(CTX)
    moved = p.rewrap(dk.wrapped, CTX)
    assert moved.key_id == key_arn
    assert moved.blob != dk.wrapped.blob
    calls = p.kms_calls()
    assert calls.get("ReEncrypt") == 1
    assert "Decrypt" not in calls  # the data key never left KMS
    assert p.unwrap(moved, CTX) == dk.plaintext
    with pytest.raises(DecryptionError):
        p.rewrap(dk.wrapped, {"tenant": "t-2"})


def test_rewrap_moves_an_allowed_key_to_ours(mock_kms: Client) -> None:
    client = mock_kms(REGION)
    old_arn, new_arn = create_key(client), create_key(client)
    account = parse_arn(old_arn).account  # type: ignore[union-attr]
    dk = provider(f"aws-kms://{old_arn}").generate_data_key(CTX)
    new = provider(f"aws-kms://{new_arn}?discovery=1&allowed_accounts={account}")
    moved = new.rewrap(dk.wrapped, CTX)
    assert moved.key_id == new_arn
    assert provider(f"aws-kms://{new_arn}").unwrap(moved, CTX) == dk.plaintext
    strict = provider(f"aws-kms://{new_arn}")
    with pytest.raises(NoMatchingKeyError):
        strict.rewrap(dk.wrapped, CTX)


def test_rewrap_across_regions_falls_back_to_unwrap_and_wrap(mock_kms: Client) -> None:
    west_arn = create_key(mock_kms(OTHER_REGION))
    east_arn = create_key(mock_kms(REGION))
    account = parse_arn(east_arn).account  # type: ignore[union-attr]
    dk = provider(f"aws-kms://{west_arn}").generate_data_key(CTX)
    east = provider(f"aws-kms://{east_arn}?discovery=1&allowed_accounts={account}")
    moved = east.rewrap(dk.wrapped, CTX)
    assert moved.key_id == east_arn
    assert east.unwrap(moved, CTX) == dk.plaintext
    assert east.kms_calls().get("ReEncrypt", 0) == 0


# -- rotation ----------------------------------------------------------------------------------
def test_rotate_on_demand_keeps_old_wraps_and_reports_status(mock_kms: Client) -> None:
    client = mock_kms(REGION)
    arn = create_key(client)
    p = provider(f"aws-kms://{arn}")
    old = p.generate_data_key(CTX)
    assert p.rotation_status().automatic is False
    assert p.rotate() == 0
    assert p.key_version == 0
    assert len(client.list_key_rotations(KeyId=arn)["Rotations"]) == 1
    assert p.unwrap(old.wrapped, CTX) == old.plaintext
    assert p.unwrap(p.rewrap(old.wrapped, CTX), CTX) == old.plaintext
    p.enable_automatic_rotation(period_days=180)
    status = p.rotation_status()
    assert status.automatic is True
    assert status.key_id == arn
    assert "automatic rotation every" in status.describe()
    health = p.health_check()
    assert health.ok
    assert "automatic rotation every" in health.detail
    with pytest.raises(ConfigError, match="90 and 2560"):
        p.enable_automatic_rotation(period_days=30)


def test_rotation_of_unsupported_keys_says_what_to_do(key_arn: str) -> None:
    p = stubbed(key_arn)
    p.stub.add_client_error(
        "rotate_key_on_demand",
        service_error_code="UnsupportedOperationException",
        service_message="imported key material",
        http_status_code=400,
    )
    with pytest.raises(UnsupportedOperation, match="re-pointing the alias"):
        p.rotate()


def test_concurrent_rotation_says_one_is_already_in_progress(key_arn: str) -> None:
    """``ConflictException``: another on-demand rotation (or an imminent automatic one) runs."""
    p = stubbed(key_arn)
    p.stub.add_client_error(
        "rotate_key_on_demand",
        service_error_code="ConflictException",
        service_message="An on-demand rotation is already in progress for this key.",
        http_status_code=400,
    )
    with pytest.raises(KeyProviderError) as info:
        p.rotate()
    message = str(info.value)
    assert type(info.value) is KeyProviderError, "not an outage, not a denial"
    assert "already in progress" in message
    assert key_arn in message
    assert "list-key-rotations" in message, "says how to see the rotation"
    assert "see the chained exception" not in message, "not the generic fallback"
    assert isinstance(info.value.__cause__, Exception)
    p.stub.assert_no_pending_responses()


# -- errors ------------------------------------------------------------------------------------
class _Stubbed(AwsKmsProvider):
    stub: Any


SINGLE = "1234abcd-12ab-34cd-56ef-1234567890ab"


def stubbed(key_arn: str, region: str = REGION) -> _Stubbed:
    """A provider whose client answers from a botocore Stubber (fault injection)."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("kms", region_name=region)
    p = _Stubbed.from_uri(f"aws-kms://{key_arn}", client=client)
    p.stub = Stubber(client)
    p.stub.activate()
    return p


@pytest.mark.parametrize(
    ("code", "message", "expected", "remedy"),
    [
        (
            "AccessDeniedException",
            "User: arn:aws:iam::1:role/x is not authorized to perform: kms:GenerateDataKey",
            AccessDenied,
            "allow kms:GenerateDataKey",
        ),
        ("UnrecognizedClientException", "bad token", AccessDenied, "credentials"),
        ("ExpiredTokenException", "expired", AccessDenied, "refresh"),
        ("NotFoundException", "Key not found", KeyNotFound, "check the key ARN"),
        ("DisabledException", "is disabled", KeyDisabled, "enable-key"),
        ("KMSInvalidStateException", "pending deletion", KeyDisabled, "cancel-key-deletion"),
        ("InvalidKeyUsageException", "usage", ConfigError, "SYMMETRIC_DEFAULT"),
        ("ThrottlingException", "Rate exceeded", ProviderUnavailable, "CachePolicy"),
        ("LimitExceededException", "quota", ProviderUnavailable, "quota"),
        ("KMSInternalException", "oops", ProviderUnavailable, "retry later"),
        ("DependencyTimeoutException", "slow", ProviderUnavailable, "retry later"),
        ("KeyUnavailableException", "hsm", ProviderUnavailable, "retry later"),
        ("ValidationException", "context too large", KeyProviderError, "8 KiB"),
        ("SomethingNewException", "?", KeyProviderError, "chained exception"),
    ],
)
def test_generate_errors_map_onto_the_tree(
    key_arn: str, code: str, message: str, expected: type[Exception], remedy: str
) -> None:
    p = stubbed(key_arn)
    p.stub.add_client_error(
        "generate_data_key",
        service_error_code=code,
        service_message=message,
        http_status_code=400,
    )
    with pytest.raises(expected, match=remedy) as info:
        p.generate_data_key(CTX)
    assert key_arn in str(info.value)
    assert isinstance(info.value.__cause__, Exception)  # chained, for the logs


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("InvalidCiphertextException", "", DecryptionError),
        ("IncorrectKeyException", "wrong key", DecryptionError),
        ("ValidationException", "blob too long", DecryptionError),
        (
            "AccessDeniedException",
            "The ciphertext refers to a customer master key that does "
            "not exist, does not exist in this region, or you are not allowed to access.",
            DecryptionError,
        ),
        (
            "AccessDeniedException",
            "User: x is not authorized to perform: kms:Decrypt",
            AccessDenied,
        ),
        ("DisabledException", "disabled", KeyDisabled),
        ("ThrottlingException", "slow down", ProviderUnavailable),
    ],
)
def test_decrypt_errors_separate_integrity_from_operations(
    key_arn: str, code: str, message: str, expected: type[Exception]
) -> None:
    p = stubbed(key_arn)
    p.stub.add_client_error(
        "decrypt", service_error_code=code, service_message=message, http_status_code=400
    )
    with pytest.raises(expected) as info:
        p.unwrap(WrappedKey("aws-kms", key_arn, 0, b"\x01" * 100), CTX)
    if expected is DecryptionError:
        assert type(info.value) is DecryptionError
        assert code not in str(info.value)  # one opaque message, no oracle


def test_disabled_key_in_moto_is_caught_when_the_alias_is_resolved(mock_kms: Client) -> None:
    client = mock_kms(REGION)
    arn = create_key(client, alias="alias/off")
    key_id = arn.rsplit("/", 1)[1]  # moto's DisableKey wants the bare id
    client.disable_key(KeyId=key_id)
    with pytest.raises(KeyDisabled, match="enable-key"):
        provider("aws-kms://alias/off").generate_data_key(CTX)
    client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    with pytest.raises(KeyDisabled, match="PendingDeletion"):
        provider("aws-kms://alias/off").key_id  # noqa: B018


def test_missing_keys_and_aliases_are_key_not_found(mock_kms: Client, key_arn: str) -> None:
    with pytest.raises(KeyNotFound):
        provider("aws-kms://alias/nope").generate_data_key(CTX)
    gone = key_arn[:-4] + "ffff"
    with pytest.raises(KeyNotFound):
        provider(f"aws-kms://{gone}").generate_data_key(CTX)


def test_health_check_reports_instead_of_raising(mock_kms: Client) -> None:
    status = provider("aws-kms://alias/nope").health_check()
    assert not status.ok
    assert "KeyNotFound" in status.detail


def test_asymmetric_key_is_a_config_error(mock_kms: Client) -> None:
    client = mock_kms(REGION)
    meta = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    with pytest.raises(ConfigError, match="SYMMETRIC_DEFAULT"):
        provider(f"aws-kms://{meta['KeyId']}").generate_data_key({})


def throttle_hook(client: Any, failures: int) -> list[str]:
    """Answer the first ``failures`` HTTP attempts with a 400 ThrottlingException."""
    from botocore.awsrequest import AWSResponse

    attempts: list[str] = []

    class _Raw:
        def stream(self, **_: Any) -> Any:
            yield b'{"__type":"ThrottlingException","message":"Rate exceeded"}'

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        attempts.append(request.headers.get("X-Amz-Target", b"").decode())
        if len(attempts) > failures:
            return None
        return AWSResponse(request.url, 400, {"x-amzn-errortype": "ThrottlingException"}, _Raw())

    client.meta.events.register("before-send.kms", before_send)
    return attempts


def test_throttling_is_retried_by_botocore_then_unavailable(key_arn: str) -> None:
    p = provider(f"aws-kms://{key_arn}?max_attempts=3&retry_mode=standard")
    attempts = throttle_hook(p._client, failures=100)
    with pytest.raises(ProviderUnavailable, match="throttled"):
        p.generate_data_key(CTX)
    assert len(attempts) == 3
    assert p.kms_calls() == {"GenerateDataKey": 1}


def test_a_throttle_that_clears_is_invisible(key_arn: str) -> None:
    p = provider(f"aws-kms://{key_arn}?max_attempts=3")
    attempts = throttle_hook(p._client, failures=2)
    dk = p.generate_data_key(CTX)
    assert len(attempts) == 3
    assert p.unwrap(dk.wrapped, CTX) == dk.plaintext


def test_adaptive_retry_mode_also_recovers(key_arn: str) -> None:
    p = provider(f"aws-kms://{key_arn}?max_attempts=2&retry_mode=adaptive")
    throttle_hook(p._client, failures=1)
    assert len(p.generate_data_key(CTX).plaintext) == 32


def test_connection_errors_are_provider_unavailable(key_arn: str) -> None:
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

    p = provider(f"aws-kms://{key_arn}?max_attempts=1")
    raised: list[Exception] = [
        ConnectTimeoutError(endpoint_url="https://kms"),
        EndpointConnectionError(endpoint_url="https://kms"),
    ]

    def boom(**_: Any) -> None:
        raise raised.pop(0)

    p._client.meta.events.register("before-send.kms", boom)
    with pytest.raises(ProviderUnavailable, match=r"timed out.*connect_timeout=5\.0s"):
        p.generate_data_key(CTX)
    with pytest.raises(ProviderUnavailable, match="could not be reached"):
        p.generate_data_key(CTX)


# -- configuration -----------------------------------------------------------------------------
def test_client_is_used_as_given_and_never_closed(mock_kms: Client, key_arn: str) -> None:
    client = mock_kms(REGION)
    p = provider(f"aws-kms://{key_arn}", client=client)
    assert p._client is client
    p.close()
    p.close()
    assert client.describe_key(KeyId=key_arn)["KeyMetadata"]["Arn"] == key_arn


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"endpoint_url": "http://127.0.0.1:1"}, "client= was given together with endpoint_url"),
        ({"read_timeout": 3}, "read_timeout"),
        ({"region": OTHER_REGION}, "build the client for the key's region"),
    ],
)
def test_client_conflicts_are_config_errors(
    mock_kms: Client, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        provider("aws-kms://alias/x", client=mock_kms(REGION), **options)


def test_key_arn_in_another_region_than_the_client(mock_kms: Client) -> None:
    arn = create_key(mock_kms(OTHER_REGION))
    with pytest.raises(ConfigError, match="build the client"):
        provider(f"aws-kms://{arn}", client=mock_kms(REGION))


def test_no_region_anywhere_is_a_config_error(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    with pytest.raises(ConfigError, match="no AWS region"):
        provider("aws-kms://alias/x")


def test_unknown_profile_is_a_config_error(aws_env: None) -> None:
    with pytest.raises(ConfigError, match="profile 'nope'"):
        provider("aws-kms://alias/x?profile=nope")


def test_client_options_reach_botocore(aws_env: None) -> None:
    p = provider(
        "aws-kms://alias/x?region=eu-west-1&endpoint_url=http://127.0.0.1:9&connect_timeout=1.5"
        "&read_timeout=2.5&retry_mode=adaptive&max_attempts=4"
    )
    cfg = p._client.meta.config
    assert (cfg.connect_timeout, cfg.read_timeout) == (1.5, 2.5)
    assert cfg.retries == {"mode": "adaptive", "total_max_attempts": 4}
    assert p._client.meta.endpoint_url == "http://127.0.0.1:9"
    assert p.region == "eu-west-1"
    assert repr(p) == "<AwsKmsProvider alias/x region=eu-west-1>"
    assert p.uri == "aws-kms://alias/x?region=eu-west-1"
    p.close()
    p.close()


# -- the data-key cache in the envelope --------------------------------------------------------
def test_with_the_cache_on_one_generate_per_cache_window(key_arn: str) -> None:
    from tigerseal.envelope import CachePolicy, EncryptionService

    p = provider(f"aws-kms://{key_arn}")
    svc = EncryptionService(p, cache=CachePolicy(max_age=300, max_messages=25))
    messages = [svc.encrypt(f"secret {i}".encode(), CTX) for i in range(100)]
    assert p.kms_calls().get("GenerateDataKey") == 4  # 100 messages / 25 per window
    assert svc.metrics["generate"] == 4
    fresh = EncryptionService(provider(f"aws-kms://{key_arn}"), cache=CachePolicy())
    assert [fresh.decrypt(m, CTX) for m in messages] == [f"secret {i}".encode() for i in range(100)]
    assert fresh.metrics["unwrap"] == 4  # one Decrypt per distinct data key
    no_cache = EncryptionService(provider(f"aws-kms://{key_arn}"))
    for i in range(5):
        no_cache.encrypt(b"x", {"i": str(i)})
    assert no_cache.metrics["generate"] == 5


def test_configured_through_tigerseal_key_providers(
    mock_kms: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from tigerseal.config import reset_settings
    from tigerseal.envelope import get_encryption_service, reset_encryption_service

    east = create_key(mock_kms(REGION), alias="alias/app")
    create_key(mock_kms(OTHER_REGION), alias="alias/app")
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv(
        "TIGERSEAL_KEY_PROVIDERS",
        f"aws-kms://alias/app?region={REGION} aws-kms://alias/app?region={OTHER_REGION}",
    )
    reset_settings()
    reset_encryption_service()
    try:
        svc = get_encryption_service()
        assert [p.region for p in svc.providers] == [REGION, OTHER_REGION]  # type: ignore[attr-defined]
        ed = svc.encrypt(b"seed api", CTX)
        assert ed.wrapped_keys[0].key_id == east
        assert svc.decrypt(ed, CTX) == b"seed api"
    finally:
        reset_encryption_service()
        monkeypatch.delenv("TIGERSEAL_KEY_PROVIDERS")
        reset_settings()


def test_service_rewrap_to_another_key_keeps_messages_readable(mock_kms: Client) -> None:
    # Moving messages to a new KMS key (discovery rewrap) changes the wrapped key's key id,
    # which the key-section manifest covers (docs/format.md, section 3.1): the manifest must be
    # recomputed, or every moved message would be refused as "key section modified".
    from tigerseal.envelope import EncryptionService

    client = mock_kms(REGION)
    old_arn, new_arn = create_key(client), create_key(client)
    account = parse_arn(old_arn).account  # type: ignore[union-attr]
    ed = EncryptionService(provider(f"aws-kms://{old_arn}")).encrypt(b"payload", CTX)
    mover = EncryptionService(
        provider(f"aws-kms://{new_arn}?discovery=1&allowed_accounts={account}")
    )
    moved = mover.rewrap(ed)
    assert [w.key_id for w in moved.wrapped_keys] == [new_arn]
    assert EncryptionService.inspect(moved)["key_section"]["problem"] is None
    strict = EncryptionService(provider(f"aws-kms://{new_arn}"))
    assert strict.decrypt(moved, CTX) == b"payload"
    # The message is still bound to its own (recomputed) manifest: stripping it is refused.
    assert moved.header.manifest is not None


@pytest.mark.parametrize(
    "error", [RuntimeError("boom"), AttributeError("no attr"), ValueError("odd answer")]
)
def test_health_check_never_raises_whatever_the_probe_raises(
    key_arn: str, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    """Before: anything but a TigerSealError escaped AwsKmsProvider.health_check."""
    p = provider(f"aws-kms://{key_arn}")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(p, "generate_data_key", broken)
    status = p.health_check()
    assert not status.ok
    assert status.error == type(error).__name__
    assert not status.expected
    assert type(error).__name__ in status.detail
