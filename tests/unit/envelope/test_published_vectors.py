"""docs/vectors/envelope-v1.json against tigerseal and against the independent reader."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from tigerseal.envelope import EncryptedData, EncryptionService
from tigerseal.errors import DecryptionError
from tigerseal.providers.env import EnvKeyProvider
from tigerseal.providers.file import FileKeyProvider

from tests.unit.envelope.test_format_spec import REFUSALS, decode_text, read_message

VECTORS = Path(__file__).parents[3] / "docs" / "vectors" / "envelope-v1.json"
DOC = json.loads(VECTORS.read_text())
CASES = [pytest.param(t, id=f"{t['id']}-{t['result']}") for t in DOC["tests"]]


def _message(case: dict[str, Any]) -> bytes | str:
    return case["message_text"] if "message_text" in case else bytes.fromhex(case["message_hex"])


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> EncryptionService:
    """A service holding every key of the vectors: env (one version) and a file keyring."""
    env_keys = [k for k in DOC["keys"] if k["provider"] == "env"]
    file_keys = [k for k in DOC["keys"] if k["provider"] == "file"]
    (ek,) = env_keys
    env = EnvKeyProvider(ek["key_id"], environ={ek["key_id"]: ek["kek"]})
    path = tmp_path_factory.mktemp("vectors") / "keyring.json"
    from tigerseal.providers._local import SUITE

    doc = {
        "format": "tigerseal-keyring",
        "format_version": 1,
        "keyring_id": file_keys[0]["key_id"],
        "suite": SUITE,
        "current_version": max(k["version"] for k in file_keys),
        "min_decryption_version": 0,
        "keys": [
            {"version": k["version"], "created": "2026-01-01T00:00:00Z", "key": k["kek"]}
            for k in file_keys
        ],
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f)
    return EncryptionService([env, FileKeyProvider(path)])


def test_vectors_cover_both_results() -> None:
    results = [t["result"] for t in DOC["tests"]]
    assert results.count("valid") >= 10
    assert results.count("invalid") >= 20


@pytest.mark.parametrize("case", CASES)
def test_vector_against_tigerseal(service: EncryptionService, case: dict[str, Any]) -> None:
    msg = _message(case)
    if case["result"] == "valid":
        assert service.decrypt(msg, case["context"]) == bytes.fromhex(case["plaintext_hex"])
    else:
        with pytest.raises(DecryptionError):
            service.decrypt(msg, case["context"])


@pytest.mark.parametrize("case", CASES)
def test_vector_against_the_independent_reader(case: dict[str, Any]) -> None:
    keks = {
        (k["provider"], k["key_id"], k["version"]): bytes.fromhex(k["kek"]) for k in DOC["keys"]
    }
    msg = _message(case)

    def read() -> bytes:
        data = decode_text(msg) if isinstance(msg, str) else msg
        return read_message(data, keks, case["context"])

    if case["result"] == "valid":
        assert read() == bytes.fromhex(case["plaintext_hex"])
    else:
        with pytest.raises(REFUSALS):
            read()


def test_vectors_inspect_reports_stripped_copies() -> None:
    for case in DOC["tests"]:
        if case.get("error") == "key-section" and "removed" in case["comment"]:
            data = bytes.fromhex(case["message_hex"])
            problem = EncryptionService.inspect(EncryptedData.parse(data))["key_section"]
            if "count edited" not in case["comment"]:
                assert problem["problem"] is not None


def test_vectors_cover_every_non_canonical_spelling_and_the_suite_byte() -> None:
    # format.md section 6 names four non-canonical text spellings; and the header's suite byte
    # is checked before anything else (section 2). Each needs an invalid vector.
    comments = [t["comment"] for t in DOC["tests"] if t["result"] == "invalid"]
    texts = [t for t in DOC["tests"] if t["result"] == "invalid" and t.get("error") == "text"]
    trailing = [t for t in texts if "unused trailing bit" in t["comment"]]
    assert trailing, comments
    body = trailing[0]["message_text"][4:]
    assert len(body) % 4 in (2, 3)  # a form that has unused bits at all
    suites = [
        t
        for t in DOC["tests"]
        if t["result"] == "invalid" and "message_hex" in t and t["message_hex"][8:10] != "01"
    ]
    assert suites, comments
