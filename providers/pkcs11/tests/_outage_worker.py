"""Token outage worker: the token directory of a private SoftHSM2 set-up disappears, returns.

Run by test_token_outage.py with ``SOFTHSM2_CONF`` pointing at a set-up of its own (the
library reads it once per process, so the outage cannot share the test session's tokens).
One process, one provider: wrap, move the token directory away, try to unwrap and wrap (and
through an envelope), put it back, unwrap again. Prints one JSON line of outcomes: the error
class of each attempt, or ``"ok"``.

Usage: python _outage_worker.py URI TOKENDIR
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Callable


def main() -> int:
    from tigerseal.envelope import EncryptionService
    from tigerseal_pkcs11._admin import init_key
    from tigerseal_pkcs11._provider import Pkcs11Provider

    uri, tokendir = sys.argv[1], sys.argv[2]
    init_key(uri)
    provider = Pkcs11Provider(uri)
    envelope = EncryptionService([provider])
    dek, context = secrets.token_bytes(32), {"row": "1"}
    wrapped = provider.wrap(dek, context)
    sealed = envelope.encrypt(b"payload", context)
    outcomes: dict[str, str] = {}

    def attempt(name: str, fn: Callable[[], object]) -> None:
        try:
            result = fn()
            good = result in (dek, b"payload") or name.endswith(".wrap")
            outcomes[name] = "ok" if good else "wrong result"
        except Exception as exc:
            outcomes[name] = type(exc).__name__
            outcomes[name + ".message"] = str(exc)

    os.rename(tokendir, tokendir + ".away")
    attempt("gone.unwrap", lambda: provider.unwrap(wrapped, context))
    attempt("gone.wrap", lambda: provider.wrap(dek, context))
    attempt("gone.decrypt", lambda: envelope.decrypt(sealed, context))
    attempt("gone.unwrap_again", lambda: provider.unwrap(wrapped, context))
    attempt("gone.new_provider", lambda: Pkcs11Provider(uri).close())
    os.rename(tokendir + ".away", tokendir)
    attempt("back.unwrap", lambda: provider.unwrap(wrapped, context))
    attempt("back.decrypt", lambda: envelope.decrypt(sealed, context))
    attempt("back.wrap", lambda: provider.wrap(dek, context))
    attempt("back.new_provider", lambda: Pkcs11Provider(uri).unwrap(wrapped, context))
    print(json.dumps(outcomes), flush=True)
    provider.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
