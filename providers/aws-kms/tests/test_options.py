"""aws-kms:// URI and option parsing (no AWS, no boto3 needed)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tigerseal.errors import ConfigError
from tigerseal_aws_kms._options import parse_arn, parse_key, parse_options

ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
MRK = "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"


@pytest.mark.parametrize(
    ("value", "kind", "region"),
    [
        (ARN, "key-arn", "us-east-1"),
        ("arn:aws:kms:eu-west-1:111122223333:alias/tiger-creds", "alias-arn", "eu-west-1"),
        ("arn:aws-cn:kms:cn-north-1:111122223333:alias/a/b_c-d", "alias-arn", "cn-north-1"),
        ("1234abcd-12ab-34cd-56ef-1234567890ab", "key-id", None),
        ("mrk-1234abcd12ab34cd56ef1234567890ab", "key-id", None),
        ("alias/tiger-creds", "alias-name", None),
    ],
)
def test_the_four_key_forms(value: str, kind: str, region: str | None) -> None:
    ref = parse_key(value)
    assert (ref.raw, ref.kind, ref.region) == (value, kind, region)


def test_multi_region_keys_are_recognised_by_their_prefix() -> None:
    mrk = parse_key(MRK)
    assert mrk.is_multi_region
    assert not parse_key(ARN).is_multi_region
    assert mrk.in_region("eu-west-1").raw == MRK.replace("us-east-1", "eu-west-1")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "arn:aws:kms:us-east-1:111122223333:key/not-a-key-id",
        "arn:aws:s3:::bucket",
        "arn:aws:kms:us-east-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "1234",
        "alias/",
        "alias/has space",
        "tiger-creds",
    ],
)
def test_bad_key_identifiers_are_config_errors(value: str) -> None:
    with pytest.raises(ConfigError, match="KMS"):
        parse_key(value)


def test_uri_options_are_typed() -> None:
    o = parse_options(
        "aws-kms://alias/x?region=eu-west-1&endpoint_url=http://127.0.0.1:5000&profile=p"
        "&connect_timeout=1.5&read_timeout=2&retry_mode=adaptive&max_attempts=5"
    )
    assert o.key.raw == "alias/x"
    assert (o.region, o.endpoint_url, o.profile) == ("eu-west-1", "http://127.0.0.1:5000", "p")
    assert (o.connect_timeout, o.read_timeout, o.retry_mode, o.max_attempts) == (
        1.5,
        2.0,
        "adaptive",
        5,
    )
    assert o.worst_case_seconds == 5 * 3.5
    assert not o.discovery


def test_defaults_bound_every_call() -> None:
    o = parse_options(f"aws-kms://{ARN}")
    assert o.region == "us-east-1"  # from the ARN
    assert (o.connect_timeout, o.read_timeout, o.max_attempts, o.retry_mode) == (
        5.0,
        10.0,
        3,
        "standard",
    )


def test_go_cdk_style_triple_slash_is_accepted() -> None:
    assert parse_options("aws-kms:///alias/x?region=us-east-1").key.raw == "alias/x"


def test_keyword_options_equal_to_the_uri_are_fine_and_conflicts_are_errors() -> None:
    o = parse_options("aws-kms://alias/x?region=us-east-1", region="us-east-1", max_attempts=2)
    assert o.max_attempts == 2
    with pytest.raises(ConfigError, match="both in the URI and in code"):
        parse_options("aws-kms://alias/x?region=us-east-1", region="eu-west-1")


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("vault://transit/x", "expected a URI starting aws-kms://"),
        ("aws-kms://", "names no KMS key"),
        ("aws-kms://alias/x?colour=red", "unknown option 'colour'"),
        ("aws-kms://alias/x?region=moon", "not an AWS region"),
        (f"aws-kms://{ARN}?region=eu-west-1", "ARN is in us-east-1"),
        ("aws-kms://alias/x?connect_timeout=0", "greater than 0"),
        ("aws-kms://alias/x?read_timeout=abc", "must be a duration"),
        ("aws-kms://alias/x?max_attempts=0", "at least 1"),
        ("aws-kms://alias/x?max_attempts=2.5", "must be a whole number"),
        ("aws-kms://alias/x?retry_mode=legacy", "standard' or 'adaptive"),
        ("aws-kms://alias/x?endpoint_url=ftp://x", "http"),
        ("aws-kms://alias/x?discovery=maybe", "discovery must be"),
        ("aws-kms://alias/x?discovery=1", "needs an allow-list"),
        ("aws-kms://alias/x?allowed_accounts=111122223333", "only apply in discovery"),
        ("aws-kms://alias/x?discovery=1&allowed_accounts=12", "12-digit"),
        ("aws-kms://alias/x?discovery=1&allowed_keys=alias/y", "key ARNs"),
        ("aws-kms://alias/x?region=us-east-1&region=us-east-1", "given twice"),
        ("aws-kms://alias/x#frag", "no fragment"),
        ("aws-kms://alias/x?=&", "malformed"),
        ("aws-kms://alias/x?connect_timeout=301", "at most 300"),
        ("aws-kms://alias/x?max_atempts=2", "Did you mean 'max_attempts'"),
    ],
)
def test_bad_options_say_what_to_fix(uri: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_options(uri)


def test_discovery_allow_lists_from_uri_or_keywords() -> None:
    o = parse_options(
        f"aws-kms://{ARN}?discovery=1&allowed_accounts=111122223333,444455556666&allowed_keys={MRK}"
    )
    assert o.discovery
    assert o.allowed_accounts == {"111122223333", "444455556666"}
    assert o.allowed_keys == {MRK}
    k = parse_options(f"aws-kms://{ARN}", discovery=True, allowed_accounts=["111122223333"])
    assert k.allowed_accounts == {"111122223333"}


def test_keyword_max_attempts_must_be_whole() -> None:
    with pytest.raises(ConfigError, match="whole number"):
        parse_options("aws-kms://alias/x", max_attempts=2.5)


def test_non_string_uri_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_options(b"aws-kms://alias/x")  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=120))
def test_arbitrary_text_never_escapes_the_error_tree(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_options("aws-kms://" + text)
    assert parse_arn(text) is None or text.startswith("arn:")


def test_identifiers_with_a_trailing_newline_are_refused() -> None:
    # Python's "$" also matches before a final "\n": a key id from a message header (or an env
    # var read with its newline) must not pass as an ARN and reach KMS calls and error text.
    from tigerseal_aws_kms._options import parse_arn, parse_key

    arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert parse_arn(arn) is not None
    for bad in (arn + "\n", "arn:aws:kms:us-east-1:111122223333:alias/name\n"):
        assert parse_arn(bad) is None
    for bad in ("1234abcd-12ab-34cd-56ef-1234567890ab\n", "alias/name\n"):
        with pytest.raises(ConfigError):
            parse_key(bad)
