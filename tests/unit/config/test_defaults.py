"""Process-wide defaults (one helper, tigerseal.reset_defaults) and lazy exports (issue 14.4)."""

from __future__ import annotations

import os
import sys
import threading
import types
from pathlib import Path

import pytest
from tigerseal._defaults import ProcessDefault
from tigerseal._lazy import lazy_exports


def test_built_once_under_concurrency() -> None:
    calls: list[int] = []
    gate = threading.Barrier(8)

    def build() -> object:
        calls.append(1)
        return object()

    default: ProcessDefault[object] = ProcessDefault("t", build, with_reset_defaults=False)
    seen: list[object] = []

    def worker() -> None:
        gate.wait()
        seen.append(default.get())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len({id(v) for v in seen}) == 1


def test_set_sticks_and_reset_closes_only_what_it_built() -> None:
    closed: list[str] = []
    default: ProcessDefault[list[str]] = ProcessDefault(
        "t", lambda: ["built"], close=lambda v: closed.append(v[0]), with_reset_defaults=False
    )
    assert default.get() == ["built"]
    mine = ["mine"]
    assert default.set(mine) == ["built"]  # returned, not closed: the caller decides
    assert default.get() is mine
    default.set(None)
    assert default.peek() is None
    default.get()
    default.reset()
    assert closed == ["built"]


def test_source_change_rebuilds_but_not_an_explicit_value() -> None:
    source = [object()]
    default: ProcessDefault[object] = ProcessDefault(
        "t", object, source=lambda: source[0], with_reset_defaults=False
    )
    first = default.get()
    assert default.get() is first
    source[0] = object()
    second = default.get()
    assert second is not first
    mine = object()
    default.set(mine)
    source[0] = object()
    assert default.get() is mine


def test_reset_defaults_resets_every_default_but_the_plugin_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tigerseal
    from tigerseal import get_encryption_service, get_settings
    from tigerseal.plugins import get_registry
    from tigerseal.ratelimit import get_rate_limiter

    monkeypatch.setenv("TIGERSEAL_ENCRYPTION_MASTER_KEY", "a3f1" + os.urandom(30).hex())
    settings, service, limiter = get_settings(), get_encryption_service(), get_rate_limiter()
    registry = get_registry()
    tigerseal.reset_defaults()
    assert get_settings() is not settings
    assert get_encryption_service() is not service
    assert get_rate_limiter() is not limiter
    assert get_registry() is registry  # plugins are code, not configuration


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
def test_usable_in_a_forked_child() -> None:
    default: ProcessDefault[object] = ProcessDefault("t", object, with_reset_defaults=False)
    value = default.get()
    holder = threading.Thread(target=lambda: default._lock.acquire())  # held at fork time
    holder.start()
    holder.join()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0 if default.get() is value and default._lock.acquire(timeout=2) else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    default._lock.release()
    assert os.waitstatus_to_exitcode(status) == 0


def test_lazy_exports_import_on_first_access_and_cache(tmp_path: Path) -> None:
    (tmp_path / "lazy_target_mod.py").write_text("VALUE = 42\nOTHER = 7\n")
    sys.path.insert(0, str(tmp_path))
    module = types.ModuleType("lazy_pkg_under_test")
    sys.modules[module.__name__] = module
    try:
        getattr_, dir_ = lazy_exports(
            module.__name__, {"VALUE": "lazy_target_mod", "ALIAS": "lazy_target_mod:OTHER"}
        )
        module.__getattr__ = getattr_  # type: ignore[attr-defined]
        assert "lazy_target_mod" not in sys.modules
        assert module.VALUE == 42  # type: ignore[attr-defined]
        assert "lazy_target_mod" in sys.modules
        assert vars(module)["VALUE"] == 42  # cached: later lookups skip __getattr__
        assert module.ALIAS == 7  # type: ignore[attr-defined]
        assert {"VALUE", "ALIAS"} <= set(dir_())
        with pytest.raises(AttributeError, match="has no attribute 'MISSING'"):
            module.MISSING  # type: ignore[attr-defined]  # noqa: B018
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(module.__name__, None)
        sys.modules.pop("lazy_target_mod", None)
