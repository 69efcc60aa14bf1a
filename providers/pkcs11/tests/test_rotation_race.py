"""Two real processes rotating one SoftHSM2 key at the same moment.

Before rotation was made exclusive, both scanned ``v1``, both generated ``<object>.v2`` (with
different material) and from then on every provider refused to start (two objects labelled
``.v2``). Rotation now creates, then checks that its label is unique on the token, and the
loser destroys its own object (by handle) and adopts the winner's version.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import pytest
from pkcs11 import Attribute, ObjectClass
from tigerseal_pkcs11._admin import init_key, token_session
from tigerseal_pkcs11._provider import Pkcs11Provider

from tests.services.softhsm import SoftHSM

pytestmark = [pytest.mark.integration, pytest.mark.pkcs11]

WORKER = Path(__file__).with_name("_race_worker.py")
ROUNDS = 6


#: How long to wait for one answer of a worker: only a stuck worker takes it (no timing test).
ANSWER_TIMEOUT = 120.0


def _pump(stream: IO[str]) -> tuple[queue.Queue[str], threading.Thread]:
    """The lines of ``stream``, read by a daemon thread ("" at EOF), so reads can time out."""
    lines: queue.Queue[str] = queue.Queue()

    def run() -> None:
        for line in stream:
            lines.put(line)
        lines.put("")

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    return lines, reader


def _read(lines: queue.Queue[str], stderr: IO[str]) -> dict[str, Any]:
    try:
        line = lines.get(timeout=ANSWER_TIMEOUT)
    except queue.Empty:
        pytest.fail(f"a rotation worker gave no answer within {ANSWER_TIMEOUT:.0f} s (stuck)")
    if not line:
        stderr.seek(0)
        pytest.fail(f"a rotation worker exited early: {stderr.read()[-3000:]}")
    result: dict[str, Any] = json.loads(line)
    return result


def _labels(softhsm: SoftHSM, obj: str) -> list[str]:
    """Every token object whose label starts with ``obj`` (duplicates included)."""
    with token_session(softhsm.uri(obj)) as (pool, _), pool.session() as session:
        found = session.raw.get_objects(
            {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.TOKEN: True}
        )
        return sorted(label for o in found if (label := o[Attribute.LABEL]).startswith(obj + ".v"))


def test_concurrent_rotations_leave_one_object_per_version(
    softhsm: SoftHSM, tmp_path: Path
) -> None:
    obj = softhsm.new_label("race")
    uri = softhsm.uri(obj)
    init_key(uri)
    env = {**os.environ, **softhsm.env, "PYTHONPATH": os.pathsep.join(sys.path)}
    errors = [(tmp_path / f"worker{n}.err").open("w+") for n in range(2)]
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), uri],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,  # a file: a chatty worker cannot block on a full pipe
            text=True,
        )
        for stderr in errors
    ]
    pumps = [_pump(w.stdout) for w in workers if w.stdout is not None]
    answers = [lines for lines, _ in pumps]
    try:
        for lines, stderr in zip(answers, errors, strict=True):
            assert "ready" in _read(lines, stderr)
        for _ in range(ROUNDS):
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write("rotate\n")
                worker.stdin.flush()
            results = [_read(lines, e) for lines, e in zip(answers, errors, strict=True)]
            assert all("version" in r for r in results), results
            labels = _labels(softhsm, obj)
            assert len(labels) == len(set(labels)), f"duplicate key versions: {labels}"
    finally:
        for worker in workers:
            assert worker.stdin is not None
            with contextlib.suppress(BrokenPipeError):  # a worker that died already
                worker.stdin.close()  # the worker exits at EOF
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for worker, (_, reader) in zip(workers, pumps, strict=True):
            reader.join(timeout=30)  # at EOF now that the worker is gone
            if not reader.is_alive() and worker.stdout is not None:
                worker.stdout.close()
        for stderr in errors:
            stderr.close()
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
