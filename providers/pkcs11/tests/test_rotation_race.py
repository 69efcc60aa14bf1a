"""Two real processes rotating one SoftHSM2 key at the same moment.

Before rotation was made exclusive, both scanned ``v1``, both generated ``<object>.v2`` (with
different material) and from then on every provider refused to start (two objects labelled
``.v2``). Rotation now creates, then checks that its label is unique on the token, and the
loser destroys its own object (by handle) and adopts the winner's version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import pytest
from pkcs11 import Attribute, ObjectClass
from tigerseal_pkcs11.admin import init_key, token_session
from tigerseal_pkcs11.provider import Pkcs11Provider

from tests.services.softhsm import SoftHSM

pytestmark = [pytest.mark.integration, pytest.mark.pkcs11]

WORKER = Path(__file__).with_name("_race_worker.py")
ROUNDS = 6


def _read(stream: IO[str]) -> dict[str, Any]:
    line = stream.readline()
    assert line, "the worker exited early"
    result: dict[str, Any] = json.loads(line)
    return result


def _labels(softhsm: SoftHSM, obj: str) -> list[str]:
    """Every token object whose label starts with ``obj`` (duplicates included)."""
    with token_session(softhsm.uri(obj)) as (pool, _), pool.session() as session:
        found = session.raw.get_objects(
            {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.TOKEN: True}
        )
        return sorted(label for o in found if (label := o[Attribute.LABEL]).startswith(obj + ".v"))


def test_concurrent_rotations_leave_one_object_per_version(softhsm: SoftHSM) -> None:
    obj = softhsm.new_label("race")
    uri = softhsm.uri(obj)
    init_key(uri)
    env = {**os.environ, **softhsm.env, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), uri],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert "ready" in _read(worker.stdout)
        for _ in range(ROUNDS):
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write("rotate\n")
                worker.stdin.flush()
            results = [_read(w.stdout) for w in workers if w.stdout is not None]
            assert all("version" in r for r in results), results
            labels = _labels(softhsm, obj)
            assert len(labels) == len(set(labels)), f"duplicate key versions: {labels}"
    finally:
        for worker in workers:
            try:
                worker.communicate(timeout=30)  # closes stdin: the worker exits
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.communicate()
    labels = _labels(softhsm, obj)
    versions = sorted(int(label.rsplit(".v", 1)[1]) for label in labels)
    assert versions == list(range(1, len(versions) + 1)), labels
    assert len(versions) >= ROUNDS + 1, "every round rotated at least once"
    provider = Pkcs11Provider(uri)  # starts: no duplicate version on the token
    try:
        assert provider.key_version == versions[-1]
        dek = os.urandom(32)
        assert provider.unwrap(provider.wrap(dek, {"a": "b"}), {"a": "b"}) == dek
    finally:
        provider.close()


def test_the_loser_of_a_race_destroys_its_own_object(
    softhsm: SoftHSM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A competitor's object appears between our scan and our create: ours is withdrawn."""
    from tigerseal_pkcs11 import _keys

    obj = softhsm.new_label("race")
    init_key(softhsm.uri(obj))
    provider = Pkcs11Provider(softhsm.uri(obj))
    real_create = _keys.create_kek
    competitor: list[Any] = []

    def racing_create(session: Any, uri: Any, version: int, usage: str) -> Any:
        if not competitor:  # another host's rotation lands first, with its own material
            competitor.append(real_create(session, uri, version, usage))
        return real_create(session, uri, version, usage)

    monkeypatch.setattr(_keys, "create_kek", racing_create)
    try:
        assert provider.rotate() == 2, "the loser adopts the winner's version"
        assert _labels(softhsm, obj) == [f"{obj}.v1", f"{obj}.v2"]
        with provider._active_pool().session() as session:
            [survivor] = session.raw.get_objects({Attribute.LABEL: f"{obj}.v2"})
            assert survivor.handle == competitor[0].handle, "the winner's object is kept"
        dek = os.urandom(32)
        assert provider.unwrap(provider.wrap(dek, {}), {}) == dek
    finally:
        provider.close()
