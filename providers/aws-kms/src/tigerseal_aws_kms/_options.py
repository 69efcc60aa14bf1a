"""Parse ``aws-kms://`` URIs and factory keyword options into one validated, typed object.

Nothing here imports boto3: a bad URI fails fast, before any SDK is loaded.

URI grammar::

    aws-kms://<key>[?option=value&...]

    <key>  := arn:<partition>:kms:<region>:<account>:key/<key-id>     (key ARN)
            | arn:<partition>:kms:<region>:<account>:alias/<name>     (alias ARN)
            | <key-id>          (1234abcd-12ab-34cd-56ef-1234567890ab or mrk-<32 hex>)
            | alias/<name>

Options (in the query or as keyword arguments of the factory, parsed by
:mod:`tigerseal.spi.options`; giving one in both places with different values is an error):
``region``, ``endpoint_url``, ``profile``, ``connect_timeout``, ``read_timeout`` (durations:
``2``, ``2.5s``, ``500ms``), ``retry_mode`` (``standard`` | ``adaptive``), ``max_attempts`` (total
attempts, first one included), ``deadline`` (seconds for one whole provider operation: alias
resolution, calls, retries and backoff), ``max_pool_connections`` (botocore's connection pool
per client; default: the size of :mod:`tigerseal.aio`'s I/O pool), ``discovery`` (``1``/``0``),
``allowed_accounts`` and ``allowed_keys`` (comma-separated), plus the keyword-only ``client``
(an already-built boto3 KMS client) which no URI can carry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from tigerseal._text import escape_control
from tigerseal.errors import ConfigError, OptionError
from tigerseal.spi.options import Duration, build_options, given_options, option, parse_uri

__all__ = ["SCHEME", "AwsKmsGivenOptions", "AwsKmsOptions", "KeyRef", "parse_arn", "parse_options"]

SCHEME = "aws-kms"

# \Z, not $: "$" also matches before a final newline, which must not pass as part of an id.
_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):kms:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):"
    r"(?P<account>\d{12}):(?P<kind>key|alias)/(?P<resource>[A-Za-z0-9/_-]{1,256})\Z"
)
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# AWS writes multi-Region key ids as mrk-<32 hex>; moto as mrk-<uuid>. Accept both.
_KEY_ID = re.compile(rf"^(?:mrk-(?:[0-9a-f]{{32}}|{_UUID})|{_UUID})\Z", re.IGNORECASE)
_ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}\Z")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+\Z")
_ACCOUNT = re.compile(r"^\d{12}\Z")

KeyKind = Literal["key-arn", "alias-arn", "key-id", "alias-name"]
RetryMode = Literal["standard", "adaptive"]

_EXAMPLES = (
    "aws-kms://arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab, "
    "aws-kms://alias/tiger-creds?region=us-east-1 or aws-kms://mrk-<32 hex>?region=eu-west-1"
)


@dataclass(frozen=True, slots=True)
class KeyRef:
    """A parsed KMS key identifier.

    Attributes:
        raw: the identifier as given (``arn:...``, ``alias/...`` or a key id).
        kind: which of the four forms it is.
        partition: ``aws``, ``aws-cn``, ... (ARNs only).
        region: the region named in the ARN (ARNs only).
        account: the 12-digit account (ARNs only).
        resource: the key id or ``alias/<name>``.
    """

    raw: str
    kind: KeyKind
    partition: str | None = None
    region: str | None = None
    account: str | None = None
    resource: str = ""

    @property
    def is_alias(self) -> bool:
        return self.kind in ("alias-arn", "alias-name")

    @property
    def is_multi_region(self) -> bool:
        """Multi-Region keys have ids starting ``mrk-`` (the AWS-documented marker)."""
        return not self.is_alias and self.resource.startswith("mrk-")

    def in_region(self, region: str) -> KeyRef:
        """The same key ARN in another region (meaningful for multi-Region keys only)."""
        if self.kind != "key-arn" or self.region is None:
            raise ValueError("only key ARNs name a region")
        raw = f"arn:{self.partition}:kms:{region}:{self.account}:key/{self.resource}"
        return KeyRef(raw, "key-arn", self.partition, region, self.account, self.resource)


def parse_arn(value: str) -> KeyRef | None:
    """Parse a KMS key or alias ARN; ``None`` if ``value`` is not one."""
    m = _ARN.match(value)
    if m is None:
        return None
    kind: KeyKind = "key-arn" if m["kind"] == "key" else "alias-arn"
    resource = m["resource"] if kind == "key-arn" else f"alias/{m['resource']}"
    if kind == "key-arn" and not _KEY_ID.match(resource):
        return None
    return KeyRef(value, kind, m["partition"], m["region"], m["account"], resource)


def parse_key(value: str) -> KeyRef:
    """Parse any of the four KMS key identifier forms, or raise :class:`ConfigError`."""
    if value.startswith("arn:"):
        ref = parse_arn(value)
        if ref is None:
            raise ConfigError(
                f"{value!r} is not a KMS key or alias ARN "
                "(arn:aws:kms:REGION:ACCOUNT:key/KEY-ID or ...:alias/NAME); "
                f"examples: {_EXAMPLES}"
            )
        return ref
    if _KEY_ID.match(value):
        return KeyRef(value, "key-id", resource=value)
    if _ALIAS.match(value):
        return KeyRef(value, "alias-name", resource=value)
    raise ConfigError(
        f"{value!r} names no KMS key: give a key ARN, a key id, alias/NAME or an alias ARN; "
        f"examples: {_EXAMPLES}"
    )


@dataclass(frozen=True, slots=True)
class AwsKmsOptions:
    """Validated configuration of one ``aws-kms`` provider or signer.

    Attributes:
        key: the configured KMS key.
        region: the region to call (from the ARN, the ``region`` option, or later the session).
        endpoint_url: a non-default KMS endpoint (VPC endpoint, FIPS endpoint, moto).
        profile: an AWS shared-config profile name.
        connect_timeout: seconds to wait for a TCP connection, per attempt.
        read_timeout: seconds to wait for a response, per attempt.
        retry_mode: botocore's ``standard`` or ``adaptive`` (client-side rate limiting) mode.
        max_attempts: total attempts per call, the first one included.
        deadline: seconds one provider operation may take in total (alias resolution, every
            call, retries and backoff sleeps). An attempt starts only if its worst case
            (``connect_timeout + read_timeout``, plus the backoff before it) fits in what is
            left. Default: ``max(30, connect_timeout + read_timeout)``.
        max_pool_connections: botocore's connection pool per client; ``None``: the size of
            :mod:`tigerseal.aio`'s I/O pool (``TIGERSEAL_AIO_IO_THREADS``), so each thread
            calling KMS keeps its connection instead of a TLS handshake per call.
        discovery: whether unwrap may use KMS keys other than the configured one.
        allowed_accounts: accounts whose keys discovery may use.
        allowed_keys: key ARNs discovery may use.
    """

    key: KeyRef
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    retry_mode: RetryMode = "standard"
    max_attempts: int = 3
    deadline: float = 30.0
    max_pool_connections: int | None = None
    discovery: bool = False
    allowed_accounts: frozenset[str] = field(default_factory=frozenset)
    allowed_keys: frozenset[str] = field(default_factory=frozenset)

    @property
    def worst_case_seconds(self) -> float:
        """Upper bound of one call's duration without backoff sleeps (documented guarantee)."""
        return self.max_attempts * (self.connect_timeout + self.read_timeout)

    @property
    def client_options_given(self) -> tuple[str, ...]:
        """Names of options that only matter when this package builds the client."""
        given = []
        if self.endpoint_url is not None:
            given.append("endpoint_url")
        if self.profile is not None:
            given.append("profile")
        defaults = AwsKmsOptions(self.key)
        for name in (
            "connect_timeout",
            "read_timeout",
            "retry_mode",
            "max_attempts",
            "max_pool_connections",
        ):
            if getattr(self, name) != getattr(defaults, name):
                given.append(name)
        return tuple(given)


def _retry_mode(name: str, value: object) -> str:
    if value not in ("standard", "adaptive"):
        raise ConfigError(
            f"{name} must be 'standard' or 'adaptive', got {escape_control(str(value), limit=20)!r}"
            " (botocore's legacy mode is not supported: it retries without a quota)"
        )
    return str(value)


@dataclass(frozen=True, slots=True)
class AwsKmsGivenOptions:
    """The ``aws-kms`` options as given (query or keywords), typed by :mod:`tigerseal.spi.options`.

    :func:`parse_options` checks them together and fills the defaults into
    :class:`AwsKmsOptions`.
    """

    region: str | None = option(None, help="AWS region (default: from the ARN or the session)")
    endpoint_url: str | None = option(None, help="a non-default KMS endpoint (http/https)")
    profile: str | None = option(None, help="AWS shared-config profile")
    connect_timeout: Duration | None = option(None, gt=0, le=300, help="seconds per connect")
    read_timeout: Duration | None = option(None, gt=0, le=300, help="seconds per response")
    retry_mode: str | None = option(None, parse=_retry_mode, help="standard or adaptive")
    max_attempts: int | None = option(None, ge=1, le=20, help="attempts per call, first included")
    deadline: Duration | None = option(None, gt=0, le=3600, help="seconds per whole operation")
    max_pool_connections: int | None = option(
        None, ge=1, le=256, help="connections kept per client (default: the aio I/O pool size)"
    )
    discovery: bool = option(False, help="1: unwrap may use other (allow-listed) keys")
    allowed_accounts: frozenset[str] = option(frozenset(), help="accounts discovery may use")
    allowed_keys: frozenset[str] = option(frozenset(), help="key ARNs discovery may use")


def parse_options(
    uri: str,
    *,
    _extra_names: tuple[str, ...] = (),
    _extras_out: dict[str, Any] | None = None,
    **kwargs: Any,
) -> AwsKmsOptions:
    """Parse an ``aws-kms://`` URI plus keyword options.

    Args:
        uri: ``aws-kms://<key>?opt=value&...``.
        **kwargs: the same options as native Python values (``connect_timeout=2.0``,
            ``allowed_accounts=["111122223333"]``). ``client`` is not handled here.
            ``_extra_names`` lets a caller (the token signer) accept options of its own, which
            are then stored, unvalidated, into ``_extras_out``.

    Returns:
        The validated options.

    Raises:
        ConfigError: unknown option, bad value, conflict between URI and keywords, or a key
            identifier that is not one of the four KMS forms.
    """
    parsed = parse_uri(uri, plugin=SCHEME, schemes=(SCHEME,), example=_EXAMPLES)
    # Go CDK writes awskms:///alias/name (empty host); accept the extra slash.
    key_part = ((parsed.authority or "") + parsed.path).lstrip("/")
    if not key_part:
        raise ConfigError(f"{parsed.redacted()!r} names no KMS key; examples: {_EXAMPLES}")
    uri_extras = {n: v for n, v in parsed.query if n in _extra_names}
    code_extras = {n: kwargs.pop(n) for n in _extra_names if n in kwargs}
    for name in uri_extras.keys() & code_extras.keys():
        if uri_extras[name] != code_extras[name]:
            raise OptionError(
                f"{SCHEME}: option {name!r} is given both in the URI and in code with different "
                "values; give it in one place",
                plugin=SCHEME,
                option=name,
            )
    given = build_options(
        AwsKmsGivenOptions,
        plugin=SCHEME,
        uri=[(n, v) for n, v in parsed.query if n not in _extra_names],
        code=kwargs,
    )
    key = parse_key(key_part)
    options = _validate(key, given_options(given))
    if _extras_out is not None:
        _extras_out.update({**uri_extras, **code_extras})
    return options


def _validate(key: KeyRef, values: dict[str, Any]) -> AwsKmsOptions:
    region: str | None = values.get("region")
    if region is not None and not _REGION.match(region):
        raise ConfigError(f"region {region!r} is not an AWS region name (e.g. us-east-1)")
    if key.region is not None:
        if region is not None and region != key.region:
            raise ConfigError(
                f"the key ARN is in {key.region} but region={region} was given; drop the "
                "region option or use the key's ARN in that region"
            )
        region = key.region
    endpoint = values.get("endpoint_url")
    if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ConfigError(f"endpoint_url must be an http(s) URL, got {endpoint!r}")
    accounts: frozenset[str] = values.get("allowed_accounts") or frozenset()
    bad = sorted(a for a in accounts if not _ACCOUNT.match(a))
    if bad:
        raise ConfigError(f"allowed_accounts must be 12-digit AWS account ids, got {bad}")
    keys: frozenset[str] = values.get("allowed_keys") or frozenset()
    for item in sorted(keys):
        ref = parse_arn(item)
        if ref is None or ref.kind != "key-arn":
            raise ConfigError(
                f"allowed_keys must hold key ARNs (arn:aws:kms:REGION:ACCOUNT:key/ID), got "
                f"{item!r}; aliases are not accepted because they can be re-pointed"
            )
    discovery = bool(values.get("discovery", False))
    if discovery and not (accounts or keys):
        raise ConfigError(
            "discovery=1 needs an allow-list: set allowed_accounts=ACCOUNT[,ACCOUNT...] and/or "
            "allowed_keys=KEY-ARN[,...], as the AWS Encryption SDK's DiscoveryFilter requires; "
            "unrestricted discovery would decrypt under any key an attacker names"
        )
    if (accounts or keys) and not discovery:
        raise ConfigError(
            "allowed_accounts/allowed_keys only apply in discovery mode; add discovery=1 or "
            "remove them"
        )
    connect_timeout = values.get("connect_timeout") or 5.0
    read_timeout = values.get("read_timeout") or 10.0
    deadline = values.get("deadline")
    if deadline is None:
        deadline = max(30.0, connect_timeout + read_timeout)
    elif deadline < connect_timeout + read_timeout:
        raise ConfigError(
            f"deadline={deadline}s is shorter than one attempt (connect_timeout + read_timeout "
            f"= {connect_timeout + read_timeout}s), so no call could ever complete; raise "
            "deadline or lower the timeouts"
        )
    return AwsKmsOptions(
        key=key,
        region=region,
        endpoint_url=endpoint,
        profile=values.get("profile"),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retry_mode=values.get("retry_mode") or "standard",
        max_attempts=values.get("max_attempts") or 3,
        deadline=deadline,
        max_pool_connections=values.get("max_pool_connections"),
        discovery=discovery,
        allowed_accounts=accounts,
        allowed_keys=keys,
    )
