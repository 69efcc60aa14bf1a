"""The ``aws-kms`` key provider: data keys generated and wrapped by AWS KMS.

Wire format: the envelope records ``provider="aws-kms"``, ``key_id`` = the KMS key ARN (aliases
are resolved once, with ``DescribeKey``), ``key_version=0`` (KMS rotates key material behind one
ARN and does not say which backing version a ciphertext uses; old ciphertexts always decrypt)
and ``blob`` = KMS's ``CiphertextBlob`` unchanged. The envelope's encryption context is passed
as KMS ``EncryptionContext``, so KMS itself refuses a wrong context and CloudTrail logs it.

Calls:

* ``generate_data_key`` -> ``GenerateDataKey(KeySpec=AES_256)``: one call per new data key;
* ``wrap`` -> ``Encrypt`` (a second provider on a message that already has a data key);
* ``unwrap`` -> ``Decrypt`` with ``KeyId`` pinned to the configured key, so a ciphertext under
  any other key is refused (KMS otherwise decrypts with whatever key the ciphertext names);
  discovery mode widens this to an explicit account/key allow-list, as the AWS Encryption SDK;
* ``rewrap`` -> ``ReEncrypt``: the data key never leaves KMS in plaintext;
* ``rotate`` -> ``RotateKeyOnDemand``; :meth:`AwsKmsProvider.rotation_status` reports the
  automatic-rotation settings.

Multi-Region keys (ids starting ``mrk-``): a provider configured with one replica owns the data
keys wrapped under every replica of that key (same partition, account and key id, any region)
and decrypts them with its own replica, as the AWS Encryption SDK's MRK-aware keyrings do.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, ClassVar

from tigerseal.errors import (
    ConfigError,
    DecryptionError,
    EncryptionError,
    KeyDisabled,
    KeyProviderError,
    NoMatchingKeyError,
    ProviderUnavailable,
)
from tigerseal.spi import (
    DEK_SIZE,
    BatchWrap,
    Context,
    DataKey,
    HealthDetail,
    KeyProvider,
    Rotatable,
    WrappedKey,
)
from tigerseal.spi.errors import translated

from tigerseal_aws_kms import _deadline
from tigerseal_aws_kms._client import ClientFactory, client_region, method_name
from tigerseal_aws_kms._errors import translate
from tigerseal_aws_kms._options import SCHEME, AwsKmsOptions, KeyRef, parse_arn, parse_options

__all__ = ["AwsKmsProvider", "RotationStatus", "from_uri"]

#: KMS refuses ciphertext blobs longer than this; checking first spares a round trip.
_MAX_BLOB = 6144

#: After resolving an alias failed with an outage, resolution fails fast for this long
#: instead of calling DescribeKey again (the envelope calls owns() and then unwrap()).
RESOLVE_RETRY_AFTER = 5.0


@dataclass(frozen=True, slots=True)
class RotationStatus:
    """Rotation settings of a KMS key (``GetKeyRotationStatus``).

    Attributes:
        key_id: the key ARN.
        automatic: whether KMS rotates the key material automatically.
        period_days: the automatic rotation period, when enabled.
        next_rotation: when the next automatic rotation is due, if KMS says.
        on_demand_started: start of an on-demand rotation in progress, if any.
    """

    key_id: str
    automatic: bool
    period_days: int | None = None
    next_rotation: datetime | None = None
    on_demand_started: datetime | None = None

    def describe(self) -> str:
        """One line for health checks and the CLI."""
        if not self.automatic:
            text = "automatic rotation disabled"
        else:
            text = f"automatic rotation every {self.period_days or 365} days"
            if self.next_rotation is not None:
                text += f", next {self.next_rotation.date().isoformat()}"
        if self.on_demand_started is not None:
            text += f"; on-demand rotation started {self.on_demand_started.isoformat()}"
        return text


class AwsKmsProvider(KeyProvider, Rotatable, BatchWrap, HealthDetail):
    """A :class:`~tigerseal.spi.KeyProvider` backed by one symmetric AWS KMS key.

    Build it with :func:`from_uri` (or :meth:`from_uri`); pass ``client=`` to reuse a boto3 KMS
    client you configured yourself (credentials, endpoint, retries are then yours).

    Args:
        options: validated options (see :mod:`tigerseal_aws_kms._options`).
        client: an already-built boto3 KMS client; the provider then never builds one and does
            not close it.

    Raises:
        ConfigError: client-building options given together with ``client``, a key ARN in
            another region than ``client``, or no region at all.

    Instances are safe to share between threads: boto3 clients are thread-safe, and the alias
    resolution and call counters are guarded by a lock.
    """

    scheme: ClassVar[str] = SCHEME

    def __init__(self, options: AwsKmsOptions, *, client: Any = None) -> None:
        self._options = options
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._closed = False
        if client is not None:
            conflicting = options.client_options_given
            if conflicting:
                raise ConfigError(
                    f"client= was given together with {', '.join(conflicting)}; configure "
                    "those on the boto3 client instead (they would be silently ignored)"
                )
            region = client_region(client)
            if region is None:
                raise ConfigError("the boto3 client given as client= has no region_name")
            if options.region is not None and options.region != region:
                raise ConfigError(
                    f"the key is in {options.region} but client= calls {region}; build the "
                    "client for the key's region"
                )
            self._factory: ClientFactory | None = None
            self._client = client
            self._region = region
        else:
            self._factory = ClientFactory(options)
            self._region = self._factory.default_region
            self._client = self._factory.client(self._region)
        self._arn: KeyRef | None = options.key if options.key.kind == "key-arn" else None
        self._resolve_failure: tuple[float, ProviderUnavailable] | None = None
        config = getattr(getattr(self._client, "meta", None), "config", None)
        connect = float(getattr(config, "connect_timeout", None) or options.connect_timeout)
        read = float(getattr(config, "read_timeout", None) or options.read_timeout)
        self._attempt_cost = connect + read
        # A client given as client= may have longer timeouts than the default deadline.
        self._deadline = max(options.deadline, self._attempt_cost)
        _deadline.install(self._client)

    @classmethod
    def from_uri(cls, uri: str, *, client: Any = None, **options: Any) -> AwsKmsProvider:
        """Build a provider from ``aws-kms://<key>?options`` plus keyword options.

        Args:
            uri: see :mod:`tigerseal_aws_kms._options` for the grammar and options.
            client: an already-built boto3 KMS client (optional).
            **options: the URI's options as keyword arguments.
        """
        return cls(parse_options(uri, **options), client=client)

    # -- identity ----------------------------------------------------------------------------
    @property
    def key_id(self) -> str:
        """The key ARN (an alias or bare key id is resolved with ``DescribeKey`` once)."""
        return self._resolve().raw

    @property
    def key_version(self) -> int:
        """Always ``0``: KMS keeps rotated material behind one ARN and hides versions."""
        return 0

    @property
    def region(self) -> str:
        """The region this provider calls."""
        return self._region

    @property
    def client(self) -> Any:
        """The boto3 KMS client of :attr:`region` (thread-safe; for admin calls and metrics)."""
        return self._client

    @property
    def options(self) -> AwsKmsOptions:
        """The validated options (no secrets in them)."""
        return self._options

    @property
    def uri(self) -> str:
        """The configured key (as configured), with the region when the key does not carry it."""
        key = self._options.key.raw
        suffix = "" if key.startswith("arn:") else f"?region={self._region}"
        return f"{self.scheme}://{key}{suffix}"

    def kms_calls(self) -> dict[str, int]:
        """How many KMS API calls this provider made, by operation (retries not counted)."""
        with self._lock:
            return dict(self._calls)

    # -- key operations ----------------------------------------------------------------------
    def generate_data_key(self, context: Context) -> DataKey:
        """Ask KMS for a fresh AES-256 data key, returned in plaintext and wrapped."""
        with self._scope():
            return self._generate_data_key(context)

    def _generate_data_key(self, context: Context) -> DataKey:
        arn = self._resolve()
        resp = self._call(
            "GenerateDataKey",
            self._client,
            arn.raw,
            KeyId=arn.raw,
            KeySpec="AES_256",
            **_context_param("EncryptionContext", context),
        )
        plaintext = resp.get("Plaintext", b"")
        if len(plaintext) != DEK_SIZE or resp.get("KeyId") != arn.raw:
            raise KeyProviderError(
                f"AWS KMS GenerateDataKey with {arn.raw} returned an unexpected answer; check "
                "that endpoint_url points at AWS KMS"
            )
        return DataKey(plaintext, self._wrapped(arn, resp["CiphertextBlob"]))

    def wrap(self, dek: bytes, context: Context) -> WrappedKey:
        """Encrypt an existing data key with KMS ``Encrypt``."""
        with self._scope():
            return self._wrap(dek, context)

    def _wrap(self, dek: bytes, context: Context) -> WrappedKey:
        if not isinstance(dek, (bytes, bytearray, memoryview)) or len(dek) != DEK_SIZE:
            raise EncryptionError(f"a data key must be {DEK_SIZE} bytes")
        arn = self._resolve()
        resp = self._call(
            "Encrypt",
            self._client,
            arn.raw,
            KeyId=arn.raw,
            Plaintext=bytes(dek),
            **_context_param("EncryptionContext", context),
        )
        if resp.get("KeyId") != arn.raw:
            raise KeyProviderError(
                f"AWS KMS Encrypt with {arn.raw} answered for another key; check endpoint_url"
            )
        return self._wrapped(arn, resp["CiphertextBlob"])

    def unwrap(self, wrapped: WrappedKey, context: Context) -> bytes:
        """Decrypt a wrapped data key with KMS ``Decrypt`` pinned to an allowed key.

        Raises:
            NoMatchingKeyError: the data key was wrapped under a key this provider may not use.
            DecryptionError: KMS refused the ciphertext or context (one opaque error).
            KeyProviderError: KMS failed operationally (the subclass says how).
            ProviderUnavailable: also when the operation's ``deadline`` ran out.
        """
        with self._scope():
            return self._unwrap(wrapped, context)

    def _unwrap(self, wrapped: WrappedKey, context: Context) -> bytes:
        _check_blob(wrapped)
        client, key = self._decrypting_key(wrapped)
        resp = self._call(
            "Decrypt",
            client,
            key.raw,
            CiphertextBlob=bytes(wrapped.blob),
            KeyId=key.raw,
            **_context_param("EncryptionContext", context),
        )
        plaintext = resp.get("Plaintext", b"")
        if resp.get("KeyId") != key.raw or len(plaintext) != DEK_SIZE:
            raise DecryptionError(
                "the data key could not be decrypted by AWS KMS: wrong key, wrong encryption "
                "context, or a corrupted or tampered message"
            )
        return bytes(plaintext)

    def owns(self, wrapped: WrappedKey) -> bool:
        """Whether ``wrapped`` was made under this key, a replica of it, or an allowed key."""
        if wrapped.provider != self.scheme:
            return False
        try:
            return self._source(wrapped) is not None
        except KeyProviderError:
            # Resolving our alias failed (KMS unreachable): claim ARNs in our region so that
            # unwrap reports the operational error instead of a misleading "no matching key".
            ref = parse_arn(wrapped.key_id)
            return ref is not None and ref.kind == "key-arn" and ref.region == self._region

    def rewrap(self, wrapped: WrappedKey, context: Context) -> WrappedKey:
        """Move a wrapped data key to this provider's key with server-side ``ReEncrypt``.

        The data key never leaves KMS in plaintext. KMS re-encrypts under the key's current
        material, so this also refreshes data keys wrapped before a rotation. A data key wrapped
        under a discovery-allowed key of another region is unwrapped there and wrapped here
        (``ReEncrypt`` works within one region).
        """
        with self._scope():
            return self._rewrap(wrapped, context)

    def _rewrap(self, wrapped: WrappedKey, context: Context) -> WrappedKey:
        _check_blob(wrapped)
        source = self._source(wrapped)
        if source is None:
            raise self._no_match(wrapped)
        client, key = source
        arn = self._resolve()
        if client is not self._client:
            return self.wrap(self.unwrap(wrapped, context), context)
        ctx = dict(context)
        resp = self._call(
            "ReEncrypt",
            self._client,
            arn.raw,
            CiphertextBlob=bytes(wrapped.blob),
            SourceKeyId=key.raw,
            DestinationKeyId=arn.raw,
            **_context_param("SourceEncryptionContext", ctx),
            **_context_param("DestinationEncryptionContext", ctx),
        )
        if resp.get("KeyId") != arn.raw:
            raise KeyProviderError(
                f"AWS KMS ReEncrypt to {arn.raw} answered for another key; check endpoint_url"
            )
        return self._wrapped(arn, resp["CiphertextBlob"])

    # -- rotation ----------------------------------------------------------------------------
    def rotate(self) -> int:
        """Start an on-demand rotation of the key material (``RotateKeyOnDemand``).

        The key ARN and :attr:`key_version` (``0``) stay the same: KMS keeps every earlier
        material, so existing data keys keep decrypting, and :meth:`rewrap` (``ReEncrypt``)
        moves them to the new material.

        Returns:
            The key version, always ``0`` for KMS.

        Raises:
            UnsupportedOperation: the key cannot rotate on demand (imported material,
                asymmetric, custom key store); create a new key and re-point the alias.
        """
        arn = self._resolve()
        self._call("RotateKeyOnDemand", self._client, arn.raw, KeyId=arn.raw)
        return 0

    def enable_automatic_rotation(self, period_days: int = 365) -> None:
        """Turn on KMS's automatic rotation (``EnableKeyRotation``), every ``period_days``."""
        if isinstance(period_days, bool) or not 90 <= int(period_days) <= 2560:
            raise ConfigError("KMS rotation periods must be between 90 and 2560 days")
        arn = self._resolve()
        self._call(
            "EnableKeyRotation",
            self._client,
            arn.raw,
            KeyId=arn.raw,
            RotationPeriodInDays=int(period_days),
        )

    def rotation_status(self) -> RotationStatus:
        """Report the key's rotation settings (``GetKeyRotationStatus``)."""
        arn = self._resolve()
        resp = self._call("GetKeyRotationStatus", self._client, arn.raw, KeyId=arn.raw)
        return RotationStatus(
            key_id=arn.raw,
            automatic=bool(resp.get("KeyRotationEnabled", False)),
            period_days=resp.get("RotationPeriodInDays"),
            next_rotation=resp.get("NextRotationDate"),
            on_demand_started=resp.get("OnDemandRotationStartDate"),
        )

    def _probe(self) -> str:
        """Round-trip a data key through KMS (``GenerateDataKey`` + ``Decrypt``)."""
        probe = {"tigerseal-health-check": "1"}
        dk = self.generate_data_key(probe)
        if self.unwrap(dk.wrapped, probe) != dk.plaintext:
            raise KeyProviderError("AWS KMS returned another data key than it generated")
        return "GenerateDataKey/Decrypt round trip ok"

    def health_detail(self) -> str:
        """The key's rotation settings (``GetKeyRotationStatus``; optional permission)."""
        try:
            return self.rotation_status().describe()
        except KeyProviderError as exc:
            return f"rotation status unknown ({type(exc).__name__}: {exc})"

    def unwrap_many(self, items: Sequence[tuple[WrappedKey, Context]]) -> list[bytes]:
        """Unwrap in order, one ``Decrypt`` each (KMS has no batch API)."""
        return [self.unwrap(w, c) for w, c in items]

    def rewrap_many(self, items: Sequence[tuple[WrappedKey, Context]]) -> list[WrappedKey]:
        """Rewrap in order, one server-side ``ReEncrypt`` each (KMS has no batch API)."""
        return [self.rewrap(w, c) for w, c in items]

    def close(self) -> None:
        """Close the clients this provider built (a client passed in is left alone)."""
        if self._factory is not None and not self._closed:
            self._closed = True
            self._factory.close()

    # -- internals ---------------------------------------------------------------------------
    def _scope(self) -> Any:
        """The deadline of one provider operation (see :mod:`tigerseal_aws_kms._deadline`)."""
        return _deadline.scope(self._deadline, self._attempt_cost)

    def _call(self, operation: str, client: Any, key: str, **params: Any) -> dict[str, Any]:
        with self._scope():
            if not _deadline.may_start_call():
                raise ProviderUnavailable(
                    f"AWS KMS {operation} with {key} was not attempted: the deadline="
                    f"{self._deadline:g}s of this operation ran out (earlier calls or retries "
                    "were slow); check network access to the KMS endpoint, or raise deadline"
                )
            method = getattr(client, method_name(operation))
            with self._lock:
                self._calls[operation] += 1
            translate_here = partial(translate, timeout_hint=self._timeouts())
            try:
                with translated(translate_here, operation=operation, key_id=key):
                    response: dict[str, Any] = method(**params)
            except _deadline.DeadlineStop as stop:
                exc = stop.caught if isinstance(stop.caught, Exception) else None
                if exc is None:
                    from botocore.exceptions import ClientError

                    parsed = stop.response[1] if stop.response else {}
                    exc = ClientError(parsed, operation)
                raise translate_here(exc, operation=operation, key_id=key) from exc
            return response

    def _timeouts(self) -> str:
        if self._factory is None:
            return ", timeouts of the client given as client="
        o = self._options
        return (
            f", connect_timeout={o.connect_timeout}s read_timeout={o.read_timeout}s "
            f"max_attempts={o.max_attempts} deadline={self._deadline:g}s"
        )

    def _wrapped(self, arn: KeyRef, blob: bytes) -> WrappedKey:
        return WrappedKey(provider=self.scheme, key_id=arn.raw, key_version=0, blob=bytes(blob))

    def _resolve(self) -> KeyRef:
        """The configured key's ARN, asking ``DescribeKey`` once for aliases and key ids."""
        if self._arn is not None:
            return self._arn
        with self._lock:
            if self._arn is not None:
                return self._arn
            failure = self._resolve_failure
        if failure is not None and time.monotonic() < failure[0]:
            # Fail fast: one hung DescribeKey per outage window, not one per owns()/unwrap().
            raise ProviderUnavailable(str(failure[1])) from failure[1]
        configured = self._options.key.raw
        try:
            resp = self._call("DescribeKey", self._client, configured, KeyId=configured)
        except ProviderUnavailable as exc:
            with self._lock:
                self._resolve_failure = (time.monotonic() + RESOLVE_RETRY_AFTER, exc)
            raise
        meta = resp.get("KeyMetadata", {})
        ref = parse_arn(str(meta.get("Arn", "")))
        if ref is None or ref.kind != "key-arn":
            raise KeyProviderError(
                f"AWS KMS DescribeKey for {configured} returned no key ARN; check endpoint_url"
            )
        _check_metadata(configured, meta)
        with self._lock:
            if self._arn is None:
                self._arn = ref
            return self._arn

    def _source(self, wrapped: WrappedKey) -> tuple[Any, KeyRef] | None:
        """Which client and ``KeyId`` may decrypt ``wrapped``; ``None`` if none may."""
        target = parse_arn(wrapped.key_id)
        if target is None or target.kind != "key-arn":
            return None
        ours = self._resolve()
        if target.raw == ours.raw:
            return self._client, ours
        if (
            ours.is_multi_region
            and target.partition == ours.partition
            and target.account == ours.account
            and target.resource == ours.resource
        ):
            # A replica of our key: same material, decrypt with the replica we are configured
            # with (the AWS Encryption SDK's MRK-aware strict keyring does the same).
            return self._client, ours
        if not self._discovery_allows(target, ours):
            return None
        if target.region == self._region:
            return self._client, target
        if target.is_multi_region:
            return self._client, target.in_region(self._region)
        if self._factory is None:
            return None  # a client given as client= calls one region only
        client = self._factory.client(target.region)
        _deadline.install(client)
        return client, target

    def _discovery_allows(self, target: KeyRef, ours: KeyRef) -> bool:
        o = self._options
        if not o.discovery or target.partition != ours.partition:
            return False
        return target.account in o.allowed_accounts or target.raw in o.allowed_keys

    def _decrypting_key(self, wrapped: WrappedKey) -> tuple[Any, KeyRef]:
        if wrapped.provider != self.scheme:
            raise self._no_match(wrapped)
        source = self._source(wrapped)
        if source is None:
            raise self._no_match(wrapped)
        return source

    def _no_match(self, wrapped: WrappedKey) -> NoMatchingKeyError:
        configured = self._arn.raw if self._arn is not None else self._options.key.raw
        hint = (
            "add its account to allowed_accounts or its ARN to allowed_keys"
            if self._options.discovery
            else "configure a provider for that key, or discovery=1 with allowed_accounts"
        )
        return NoMatchingKeyError(
            f"the data key was wrapped by {wrapped.provider!r} under {wrapped.key_id!r}, which "
            f"this aws-kms provider ({configured}) may not use; {hint}"
        )

    def __repr__(self) -> str:
        # No network in repr: show the configured key until the ARN is known.
        key = self._arn.raw if self._arn is not None else self._options.key.raw
        mode = " discovery" if self._options.discovery else ""
        return f"<AwsKmsProvider {key} region={self._region}{mode}>"


def from_uri(uri: str, **options: Any) -> AwsKmsProvider:
    """Factory registered for the ``aws-kms`` scheme: ``from_uri(uri, **options)``.

    Args:
        uri: ``aws-kms://<key ARN | key id | alias/NAME | alias ARN>?option=value...``.
        **options: the URI options as keywords, plus ``client=`` (a boto3 KMS client).
    """
    return AwsKmsProvider.from_uri(uri, **options)


def _context_param(name: str, context: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """KMS rejects an empty EncryptionContext map in some SDKs; omit it instead."""
    if not context:
        return {}
    ctx = dict(context)
    for k, v in ctx.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise EncryptionError("encryption context keys and values must be strings")
    return {name: ctx}


def _check_blob(wrapped: WrappedKey) -> None:
    if not isinstance(wrapped.blob, (bytes, bytearray)) or not 1 <= len(wrapped.blob) <= _MAX_BLOB:
        raise DecryptionError(
            "the data key could not be decrypted by AWS KMS: wrong key, wrong encryption "
            "context, or a corrupted or tampered message"
        )


def _check_metadata(configured: str, meta: Mapping[str, Any]) -> None:
    state = meta.get("KeyState")
    if state in ("Disabled", "PendingDeletion", "PendingReplicaDeletion", "Unavailable"):
        raise KeyDisabled(
            f"AWS KMS key {configured} is {state}; enable it (aws kms enable-key) or cancel "
            "its deletion (aws kms cancel-key-deletion)"
        )
    spec = meta.get("KeySpec", meta.get("CustomerMasterKeySpec", "SYMMETRIC_DEFAULT"))
    usage = meta.get("KeyUsage", "ENCRYPT_DECRYPT")
    if spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT":
        raise ConfigError(
            f"AWS KMS key {configured} is a {spec} key for {usage}; an aws-kms key provider "
            "needs a SYMMETRIC_DEFAULT key with KeyUsage ENCRYPT_DECRYPT (for JWT signing use "
            "the aws-kms token signer)"
        )
