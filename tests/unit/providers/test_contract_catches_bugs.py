"""The contract suite itself: it must fail for providers that break the rules."""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

import pytest
from tigerseal.errors import DecryptionError
from tigerseal.spi import Context, HealthStatus, KeyProvider, Rotatable, WrappedKey
from tigerseal.testing.contract import ProviderContract

Failed = pytest.fail.Exception


class XorProvider(KeyProvider, Rotatable):
    """Unauthenticated toy 'wrap' (XOR pad): everything a real provider must not be."""

    scheme: ClassVar[str] = "xor"

    def __init__(self, *, check_context: bool = True, leak: bool = False) -> None:
        self.pad = secrets.token_bytes(32)
        self.version = 1
        self.check_context = check_context
        self.leak = leak

    @property
    def key_id(self) -> str:
        return "xor"

    @property
    def key_version(self) -> int:
        return self.version

    def wrap(self, dek: bytes, context: Context) -> WrappedKey:
        tag = repr(sorted(context.items())).encode() if self.check_context else b""
        blob = bytes(a ^ b for a, b in zip(dek, self.pad, strict=True)) + tag
        return WrappedKey(self.scheme, self.key_id, self.version, blob)

    def unwrap(self, wrapped: WrappedKey, context: Context) -> bytes:
        if wrapped.provider != self.scheme:
            raise DecryptionError("not mine")
        tag = repr(sorted(context.items())).encode() if self.check_context else b""
        if len(wrapped.blob) != 32 + len(tag) or wrapped.blob[32:] != tag:
            raise DecryptionError("bad blob")
        return bytes(a ^ b for a, b in zip(wrapped.blob[:32], self.pad, strict=True))

    def rotate(self) -> int:
        return self.version  # forgets to bump

    def __repr__(self) -> str:
        return f"<XorProvider pad={self.pad.hex()}>" if self.leak else "<XorProvider>"


def contract_fails(match: str) -> Any:
    return pytest.raises((AssertionError, Failed), match=match)


def test_unauthenticated_wrap_fails_tamper_test() -> None:
    contract = ProviderContract()
    with contract_fails("tampered blobs unwrapped"):
        contract.test_tampered_blob_fails(XorProvider())


def test_ignored_context_fails() -> None:
    contract = ProviderContract()
    with contract_fails("DID NOT RAISE"):
        contract.test_wrong_context_fails(XorProvider(check_context=False), {"a": "1"}, {"a": "2"})


def test_other_key_that_unwraps_to_garbage_fails() -> None:
    contract = ProviderContract()
    with contract_fails("DID NOT RAISE"):
        contract.test_other_key_fails(XorProvider(), XorProvider())


def test_rotation_without_new_version_fails() -> None:
    contract = ProviderContract()
    with contract_fails("higher version"):
        contract.test_rotate(XorProvider())


def test_leaky_repr_fails() -> None:
    contract = ProviderContract()
    provider = XorProvider(leak=True)
    with contract_fails("leaked"):
        contract.test_no_key_material_in_output(provider, XorProvider(), [provider.pad])


class RaisingHealthProvider(XorProvider):
    """Overrides health_check (as aws-kms did) and lets an unexpected error escape."""

    def health_check(self) -> HealthStatus:
        raise RuntimeError("botocore exploded")


class PerInstanceBindsContext(XorProvider):
    """Vault did this: a class attribute, then a different value set on each instance."""

    binds_context: ClassVar[bool] = True  # type: ignore[misc]

    def __init__(self) -> None:
        super().__init__()
        setattr(self, "binds_context", False)  # noqa: B010 - the defect under test


def test_binds_context_cannot_be_set_on_an_instance() -> None:
    with pytest.raises(AttributeError):
        setattr(XorProvider(), "binds_context", False)  # noqa: B010


def test_overridden_health_check_fails() -> None:
    contract = ProviderContract()
    with contract_fails("override _probe"):
        contract.test_health_check_is_the_template(RaisingHealthProvider())


def test_binds_context_set_per_instance_fails() -> None:
    contract = ProviderContract()
    with contract_fails("declare it on the class"):
        contract.test_binds_context_is_declared_by_the_class(PerInstanceBindsContext())


@pytest.mark.parametrize(
    "error", [RuntimeError("boom"), AttributeError("x"), MemoryError(), DecryptionError("d")]
)
def test_health_check_template_reports_whatever_the_probe_raises(error: Exception) -> None:
    class Broken(XorProvider):
        def _probe(self) -> str:
            raise error

    status = Broken().health_check()
    assert not status.ok
    assert status.state == "FAIL"
    assert status.error == type(error).__name__
    assert status.expected is isinstance(error, DecryptionError)
    assert type(error).__name__ in status.detail
    assert status.provider == "xor"


def test_health_check_survives_identity_properties_that_raise() -> None:
    class Unreachable(XorProvider):
        @property
        def key_version(self) -> int:
            raise ConnectionError("backend down")

    status = Unreachable().health_check()  # the status is built, nothing raised
    assert status.key_version == 0
