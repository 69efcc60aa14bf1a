"""decrypt_many red-team: a failure shared by many messages stays one short error (issue 15.2).

Before: messages under the same data key that failed to unwrap re-raised one memoised exception
object, and every re-raise prepended its frames to that object's traceback: with N such
messages the error reported for each carried a traceback of ~3N frames (memory grows with the
batch, and one logged failure printed the whole batch's frames).
"""

from __future__ import annotations

import secrets

import pytest
from tigerseal.envelope import EncryptionService
from tigerseal.errors import BatchDecryptionError, KeyVersionRetired
from tigerseal.testing.fake import FakeKeyProvider, reset_fake_keys


def _depth(exc: BaseException) -> int:
    n, tb = 0, exc.__traceback__
    while tb is not None:
        n, tb = n + 1, tb.tb_next
    return n


def test_shared_unwrap_failure_keeps_a_short_traceback() -> None:
    name = "batch-red-" + secrets.token_hex(4)
    provider = FakeKeyProvider(name)
    try:
        svc = EncryptionService(provider)
        messages = svc.encrypt_many([b"v%d" % i for i in range(200)], {"t": "x"})
        provider.rotate()
        provider.retire_below(2)  # every message's one data key now fails the same way
        out = svc.decrypt_many(messages, {"t": "x"}, return_exceptions=True)
        assert all(isinstance(e, KeyVersionRetired) for e in out)
        assert max(_depth(e) for e in out if isinstance(e, BaseException)) < 20
        with pytest.raises(BatchDecryptionError) as caught:
            svc.decrypt_many(messages, {"t": "x"})
        assert len(caught.value.failures) == 200
        assert max(_depth(e) for e in caught.value.failures.values()) < 20
    finally:
        reset_fake_keys(name)
