"""Project Wycheproof's JOSE vectors (JWS verification and JWK/JWKS import).

The vector files are committed under ``tests/data/wycheproof`` (see its README for source and
commit). Each group's key set (private and public forms, where both are given) is imported
with :meth:`KeySet.from_jwks`; a refused import makes every test of the group count as
"invalid". Then each compact JWS is verified through the manager's signature path (payloads
are arbitrary bytes here, not claims). JSON-serialised JWS are not supported, so "invalid".
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from tigerseal.errors import ConfigError, TokenInvalidError
from tigerseal.tokens import KeySet, TokenManager

DATA = Path(__file__).resolve().parents[2] / "data" / "wycheproof"

# Deliberate deviations: valid per Wycheproof, refused by tigerseal, each for a stated reason.
_SIG = "json_web_signature_test.json"
DEVIATIONS = {
    # An ES256 signature with s > n/2: tigerseal requires low-s (issue 12 item 8) unless the
    # key is imported with allow_high_s=True (checked below).
    (_SIG, 18, "private"): "high-s",
    (_SIG, 18, "public"): "high-s",
    # RFC 7520 figure 20 is a PS384 token, but the vector's key says alg PS256: a key is bound
    # to its one algorithm (the defence against algorithm confusion).
    (_SIG, 346, "private"): "alg binding",
    (_SIG, 346, "public"): "alg binding",
    (_SIG, 350, "private"): "alg binding",
    (_SIG, 350, "public"): "alg binding",
    # The key's alg is "ES521", which is no JWA algorithm (P-521 is ES512).
    (_SIG, 347, "private"): "unknown alg",
    (_SIG, 347, "public"): "unknown alg",
    (_SIG, 351, "private"): "unknown alg",
    (_SIG, 351, "public"): "unknown alg",
    # The private key's key_ops is the single string "sign, verify", not the two operations.
    (_SIG, 349, "private"): "malformed key_ops",
    # '?' inserted in the header or payload: tigerseal decodes base64url strictly.
    (_SIG, 372, "private"): "strict base64url",
    (_SIG, 373, "private"): "strict base64url",
}
# Invalid per Wycheproof but byte-for-byte the token of the valid tcId 357 ("ValidMac") in
# this revision of the file (the padding the names promise is not in the strings).
SAME_AS_VALID = {(_SIG, 367), (_SIG, 370)}


def _groups(name: str) -> list[Any]:
    # One test per key set and form (not per vector): the per-test fixtures would otherwise
    # dominate the run time. Mismatches are reported per vector.
    data = json.loads((DATA / name).read_text(encoding="utf-8"))
    short = name.split("_")[2]  # "signature" / "key"
    return [
        pytest.param(name, form, group, id=f"{short}-{group['tests'][0]['tcId']}-{form}")
        for group in data["testGroups"]
        for form in ("private", "public")
        if form in group
    ]


@functools.cache
def _key_set(keys_json: str, allow_high_s: bool) -> KeySet | None:
    keys = json.loads(keys_json)
    jwks = keys if "keys" in keys else {"keys": [keys]}
    try:
        return KeySet.from_jwks(jwks, allow_high_s=allow_high_s)
    except ConfigError:
        return None


def _outcome(keys: dict[str, Any], jws: Any, *, allow_high_s: bool = False) -> str:
    key_set = _key_set(json.dumps(keys, sort_keys=True), allow_high_s)
    if key_set is None or not isinstance(jws, str):
        return "invalid"  # key refused, or JSON serialisation (tigerseal reads compact only)
    try:
        TokenManager(key_set)._verified_parts(jws)
    except TokenInvalidError:
        return "invalid"
    return "valid"


GROUPS = _groups(_SIG) + _groups("json_web_key_test.json")


def test_every_vector_is_collected() -> None:
    ids = {(p.values[0], case["tcId"]) for p in GROUPS for case in p.values[2]["tests"]}
    assert len(ids) == 401 + 26


def _check(name: str, form: str, group: dict[str, Any], case: dict[str, Any]) -> str | None:
    """What is wrong with tigerseal's answer to one vector, or ``None``."""
    got = _outcome(group[form], case["jws"])
    reason = DEVIATIONS.get((name, case["tcId"], form))
    if reason is not None:
        if case["result"] != "valid" or got != "invalid":
            return f"deviation {reason!r} no longer applies"
        if reason == "high-s" and _outcome(group[form], case["jws"], allow_high_s=True) != "valid":
            return "not valid even with allow_high_s=True"
        return None
    expected = "valid" if (name, case["tcId"]) in SAME_AS_VALID else case["result"]
    return None if got == expected else f"{case['comment']}: expected {expected}, got {got}"


@pytest.mark.parametrize(("name", "form", "group"), GROUPS)
def test_wycheproof_jose(name: str, form: str, group: dict[str, Any]) -> None:
    problems = {
        case["tcId"]: problem
        for case in group["tests"]
        if (problem := _check(name, form, group, case)) is not None
    }
    assert not problems
