"""Parse ``aws-kms://`` URIs and factory keyword options into one validated, typed object.

Nothing here imports boto3: a bad URI fails fast, before any SDK is loaded.

URI grammar::

    aws-kms://<key>[?option=value&...]

    <key>  := arn:<partition>:kms:<region>:<account>:key/<key-id>     (key ARN)
            | arn:<partition>:kms:<region>:<account>:alias/<name>     (alias ARN)
            | <key-id>          (1234abcd-12ab-34cd-56ef-1234567890ab or mrk-<32 hex>)
            | alias/<name>

Options (in the query or as keyword arguments of the factory; giving one in both places with
different values is an error): ``region``, ``endpoint_url``, ``profile``, ``connect_timeout``,
``read_timeout``, ``retry_mode`` (``standard`` | ``adaptive``), ``max_attempts`` (total
attempts, first one included), ``deadline`` (seconds for one whole provider operation: alias
resolution, calls, retries and backoff), ``discovery`` (``1``/``0``), ``allowed_accounts`` and
``allowed_keys`` (comma-separated), plus the keyword-only ``client`` (an already-built boto3
KMS client) which no URI can carry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from tigerseal.errors import ConfigError

__all__ = ["SCHEME", "AwsKmsOptions", "KeyRef", "parse_arn", "parse_options"]

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
        for name in ("connect_timeout", "read_timeout", "retry_mode", "max_attempts"):
            if getattr(self, name) != getattr(defaults, name):
                given.append(name)
        return tuple(given)


_OPTION_NAMES = (
    "region",
    "endpoint_url",
    "profile",
    "connect_timeout",
    "read_timeout",
    "retry_mode",
    "max_attempts",
    "deadline",
    "discovery",
    "allowed_accounts",
    "allowed_keys",
)


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
    if not isinstance(uri, str):
        raise ConfigError(f"an aws-kms key URI must be a str, not {type(uri).__name__}")
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() != SCHEME:
        raise ConfigError(f"{uri!r} is not an aws-kms:// URI; examples: {_EXAMPLES}")
    key_part, _, query = rest.partition("?")
    # Go CDK writes awskms:///alias/name (empty host); accept the extra slash.
    key_part = key_part.lstrip("/")
    if not key_part:
        raise ConfigError(f"{uri!r} names no KMS key; examples: {_EXAMPLES}")
    if "#" in rest:
        raise ConfigError(f"{uri!r}: fragments are not allowed in an aws-kms URI")

    raw: dict[str, Any] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise ConfigError(f"{uri!r}: malformed query string ({exc})") from exc
    for name, value in pairs:
        if name in raw:
            raise ConfigError(f"option {name!r} is given twice in {uri!r}")
        raw[name] = value
    for name, value in kwargs.items():
        if name in raw and not _same(name, raw[name], value, _extra_names):
            raise ConfigError(
                f"option {name!r} is given both in the URI and as a keyword argument with "
                "different values; give it once"
            )
        raw[name] = value
    extras = {name: raw.pop(name) for name in _extra_names if name in raw}
    unknown = sorted(set(raw) - set(_OPTION_NAMES))
    if unknown:
        raise ConfigError(
            f"unknown aws-kms option(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join((*_OPTION_NAMES, *_extra_names))}, and the keyword-only client="
        )
    values = {name: _normalise(name, value) for name, value in raw.items()}
    key = parse_key(key_part)
    options = _validate(key, values)
    if _extras_out is not None:
        _extras_out.update(extras)
    return options


def _same(name: str, a: Any, b: Any, extra_names: tuple[str, ...]) -> bool:
    if name in extra_names:
        return bool(a == b)
    return bool(_normalise(name, a) == _normalise(name, b))


def _normalise(name: str, value: Any) -> Any:
    """Turn a URI string or a keyword value into the option's type."""
    if value is None:
        return None
    if name in ("connect_timeout", "read_timeout"):
        number = _number(name, value, float)
        if not 0 < number <= 300:
            raise ConfigError(f"{name} must be between 0 and 300 seconds, got {number}")
        return number
    if name == "deadline":
        number = _number(name, value, float)
        if not 0 < number <= 3600:
            raise ConfigError(f"deadline must be between 0 and 3600 seconds, got {number}")
        return number
    if name == "max_attempts":
        attempts = int(_number(name, value, int))
        if not 1 <= attempts <= 20:
            raise ConfigError(f"max_attempts must be between 1 and 20, got {attempts}")
        return attempts
    if name == "discovery":
        return _boolean(value)
    if name in ("allowed_accounts", "allowed_keys"):
        items = value.split(",") if isinstance(value, str) else list(_iterable(name, value))
        return frozenset(str(item).strip() for item in items if str(item).strip())
    if name == "retry_mode":
        if value not in ("standard", "adaptive"):
            raise ConfigError(
                f"retry_mode must be 'standard' or 'adaptive', got {value!r} "
                "(botocore's legacy mode is not supported: it retries without a quota)"
            )
        return value
    if not isinstance(value, str) or not value:
        raise ConfigError(f"option {name} must be a non-empty string")
    return value


def _number(name: str, value: Any, kind: type[float] | type[int]) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number, got {value!r}") from exc
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    return float(number) if kind is float else number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"discovery must be 1/0 or true/false, got {value!r}")


def _iterable(name: str, value: Any) -> Iterable[Any]:
    if isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        return value
    raise ConfigError(f"{name} must be a comma-separated string or a list of strings")


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
        discovery=discovery,
        allowed_accounts=accounts,
        allowed_keys=keys,
    )
