"""Fork worker: a provider is used, the process forks, and the child must work with new providers.

Run by test_fork.py in a process of its own, because the locking mode is chosen once per
module and process (the test session's module is in ``global`` mode). The parent wraps a data
key, then forks while it holds the module's guard (as a thread in the middle of a PKCS#11 call
would), and releases it right after. The child checks that the provider from before the fork
refuses with the fork remedy, that a new provider unwraps, wraps and rotates, and that the
module can be re-initialised there (token recovery): none of this may wait for a lock or gate
entry inherited from the parent. The child writes a JSON line of outcomes to a pipe; the parent
gives it at most ``CHILD_TIMEOUT`` seconds, kills it otherwise, and prints the outcomes.

Usage: python _fork_worker.py URI
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import traceback
from collections.abc import Callable

CHILD_TIMEOUT = 60.0


def child(uri: str, old: object, wrapped: object, dek: bytes) -> dict[str, str]:
    from tigerseal_pkcs11._provider import Pkcs11Provider
    from tigerseal_pkcs11._session import get_module

    outcomes: dict[str, str] = {}

    def attempt(name: str, fn: Callable[[], object]) -> None:
        try:
            outcomes[name] = str(fn())
        except Exception as exc:
            outcomes[name] = f"{type(exc).__name__}: {exc}"
            outcomes[name + ".trace"] = traceback.format_exc()[-2000:]

    attempt("old.unwrap", lambda: old.unwrap(wrapped, {"p": "1"}))  # type: ignore[attr-defined]
    fresh: list[Pkcs11Provider] = []
    attempt("new.provider", lambda: fresh.append(Pkcs11Provider(uri)))
    if not fresh:
        return outcomes
    provider = fresh[0]
    attempt("new.unwrap", lambda: provider.unwrap(wrapped, {"p": "1"}) == dek)  # type: ignore[arg-type]
    attempt("new.rotate", provider.rotate)
    attempt("new.roundtrip", lambda: provider.unwrap(provider.wrap(dek, {}), {}) == dek)
    module = get_module(provider._uri.module_path, provider._uri.locking)
    attempt("recover", lambda: module.recover(module.generation))
    attempt("after_recover", lambda: provider.unwrap(wrapped, {"p": "1"}) == dek)  # type: ignore[arg-type]
    provider.close()
    return outcomes


def main() -> int:
    from tigerseal_pkcs11._admin import init_key
    from tigerseal_pkcs11._provider import Pkcs11Provider

    uri = sys.argv[1]
    init_key(uri)
    provider = Pkcs11Provider(uri)
    dek = os.urandom(32)
    wrapped = provider.wrap(dek, {"p": "1"})
    read_end, write_end = os.pipe()
    module = provider._module
    module.enter()  # the fork happens while "another thread" is inside the module
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read_end)
            outcomes = child(uri, provider, wrapped, dek)
            os.write(write_end, json.dumps(outcomes).encode() + b"\n")
            code = 0
        finally:
            os._exit(code)
    module.leave()
    os.close(write_end)
    chunks = []
    while True:
        ready, _, _ = select.select([read_end], [], [], CHILD_TIMEOUT)
        if not ready:  # a child stuck on an inherited lock must not hang the test run
            os.kill(pid, signal.SIGKILL)
            chunks = [json.dumps({"child": "timed out"}).encode()]
            break
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.waitpid(pid, 0)
    os.close(read_end)
    outcomes = json.loads(b"".join(chunks) or b'{"child": "exited without a result"}')
    outcomes["parent.unwrap"] = str(provider.unwrap(wrapped, {"p": "1"}) == dek)
    provider.close()
    print(json.dumps(outcomes), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
