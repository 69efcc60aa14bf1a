"""The plugin registry: built-ins, loading by name, failures, collisions, unknown names."""

from __future__ import annotations

import logging
import sys

import pytest
from tigerseal import hookimpl
from tigerseal.errors import (
    ConfigError,
    MissingDependencyError,
    PluginError,
    UnknownProviderError,
)
from tigerseal.plugins import (
    BUILTIN_PLUGINS,
    PluginRegistry,
    get_registry,
    key_provider_from_uri,
    list_plugins,
    set_registry,
    uri_scheme,
)
from tigerseal.spi import HasherSpec, ProviderSpec
from tigerseal.spi.kinds import KEY_PROVIDER
from tigerseal.testing import FakeKeyProvider

from .conftest import MakeDist, provider_plugin

KP = "register_key_providers"
GROUP = "tigerseal.key_providers"


@pytest.fixture
def registry() -> PluginRegistry:
    return PluginRegistry(autoload=True)


def test_builtins_register_through_the_same_hook(registry: PluginRegistry) -> None:
    specs = registry.specs(KP)
    for name in ("env", "file"):
        assert isinstance(specs[name], ProviderSpec)
        assert specs[name].distribution == "tigerseal"
    plugin_names = {name for name, _ in registry.pm.list_name_plugin()}
    assert {f"builtin:{m}" for m in BUILTIN_PLUGINS} <= plugin_names
    # The built-ins answer the public hook like any external plugin would.
    owners = {impl.plugin_name for impl in registry.pm.hook.register_key_providers.get_hookimpls()}
    assert {"builtin:tigerseal.providers.env", "builtin:tigerseal.providers.file"} <= owners
    assert set(registry.builtin_specs(KP)) >= {"env", "file"}
    # The in-memory test provider is opt-in (tigerseal.testing.register_fake_provider).
    assert "fake" not in specs


def test_only_the_configured_entry_point_is_imported(
    registry: PluginRegistry, site: MakeDist
) -> None:
    u = site(
        "tigerseal-alpha-beta",
        {GROUP: {"alpha": "ts_alpha_{u}", "beta": "ts_beta_{u}"}},
        {"ts_alpha_{u}": provider_plugin("alpha"), "ts_beta_{u}": provider_plugin("beta")},
    )
    listed = {i.name: i for i in list_plugins([GROUP])}
    assert listed["alpha"].distribution == "tigerseal-alpha-beta"
    assert listed["alpha"].target == f"ts_alpha_{u}"
    assert not listed["alpha"].builtin
    assert listed["env"].builtin
    assert f"ts_alpha_{u}" not in sys.modules, "listing must not import plugins"

    spec = registry.resolve(KP, "alpha")
    assert spec.distribution == "tigerseal-alpha-beta"
    assert f"ts_alpha_{u}" in sys.modules
    assert f"ts_beta_{u}" not in sys.modules, "an unconfigured plugin was imported"
    assert "beta" not in registry.specs(KP)


def test_failed_import_is_reported_by_name_and_others_work(
    registry: PluginRegistry, site: MakeDist
) -> None:
    site(
        "tigerseal-broken",
        {GROUP: {"broken": "ts_broken_{u}"}},
        {"ts_broken_{u}": "import does_not_exist_anywhere\n"},
    )
    site(
        "tigerseal-good", {GROUP: {"good": "ts_good_{u}"}}, {"ts_good_{u}": provider_plugin("good")}
    )
    with pytest.raises(PluginError, match=r"plugin 'broken' from tigerseal-broken failed") as info:
        registry.resolve(KP, "broken")
    assert "ModuleNotFoundError" in str(info.value)
    assert isinstance(info.value, ConfigError)

    failures = registry.load_all()
    assert [(f.name, f.distribution) for f in failures if f.group == GROUP] == [
        ("broken", "tigerseal-broken")
    ]
    assert registry.resolve(KP, "good").distribution == "tigerseal-good"
    assert isinstance(registry.resolve(KP, "env"), ProviderSpec)


def test_two_distributions_claiming_one_entry_point_name(
    registry: PluginRegistry, site: MakeDist
) -> None:
    site(
        "tigerseal-dup-one",
        {GROUP: {"dup": "ts_dup1_{u}"}},
        {"ts_dup1_{u}": provider_plugin("dup")},
    )
    site(
        "tigerseal-dup-two",
        {GROUP: {"dup": "ts_dup2_{u}"}},
        {"ts_dup2_{u}": provider_plugin("dup")},
    )
    with pytest.raises(PluginError, match="claimed by several plugins") as info:
        registry.resolve(KP, "dup")
    assert "tigerseal-dup-one" in str(info.value)
    assert "tigerseal-dup-two" in str(info.value)


def test_plugin_claiming_a_builtin_name_is_an_error(
    registry: PluginRegistry, site: MakeDist
) -> None:
    site(
        "tigerseal-evil",
        {GROUP: {"evilenv": "ts_evil_{u}"}},
        {"ts_evil_{u}": provider_plugin("env")},
    )
    with pytest.raises(
        PluginError, match="'env' is registered twice, by tigerseal and by tigerseal-evil"
    ):
        registry.resolve(KP, "evilenv")


def test_in_code_registration_collision_and_aliases(registry: PluginRegistry) -> None:
    class One:
        @hookimpl
        def register_key_providers(self) -> list[ProviderSpec]:
            return [ProviderSpec(name="one", factory=FakeKeyProvider, aliases=("uno",))]

    class Clash:
        @hookimpl
        def register_key_providers(self) -> list[ProviderSpec]:
            return [ProviderSpec(name="dos", factory=FakeKeyProvider, aliases=("uno",))]

    name = registry.register(One(), name="one", distribution="one-dist")
    assert registry.resolve(KP, "uno").name == "one"
    assert registry.resolve(KP, "uno").distribution == "one-dist"
    with pytest.raises(PluginError, match="already registered"):
        registry.register(One(), name="one")
    clash = registry.register(Clash(), name="clash", distribution="clash-dist")
    with pytest.raises(
        PluginError, match="'uno' is registered twice, by one-dist and by clash-dist"
    ):
        registry.specs(KP)
    registry.unregister(clash)
    registry.unregister(name)
    assert "uno" not in registry.specs(KP)


def test_misspelled_hook_is_rejected_and_leaves_registry_clean(registry: PluginRegistry) -> None:
    class Typo:
        @hookimpl
        def register_key_provider(self) -> list[ProviderSpec]:  # missing "s"
            return []

    with pytest.raises(PluginError, match="unknown hook"):
        registry.register(Typo(), name="typo")
    assert registry.pm.get_plugin("typo") is None
    registry.register(type("Fine", (), {})(), name="typo")  # the name is free again


def test_broken_registration_hook_is_isolated(registry: PluginRegistry) -> None:
    class Raises:
        @hookimpl
        def register_key_providers(self) -> list[ProviderSpec]:
            raise RuntimeError("boom")

    class WrongType:
        @hookimpl
        def register_key_providers(self) -> list[HasherSpec]:
            return [HasherSpec(name="argon9", factory=str)]

    class NotAList:
        @hookimpl
        def register_key_providers(self) -> object:
            return "env"

    for plugin, name in (
        (Raises(), "raises"),
        (WrongType(), "wrongtype"),
        (NotAList(), "notalist"),
    ):
        registry.register(plugin, name=name, distribution=f"{name}-dist")
    assert "env" in registry.specs(KP)  # the others keep working
    failures = {f.name: f.error for f in registry.failures(KP)}
    assert set(failures) == {"raises", "wrongtype", "notalist"}
    assert "boom" in failures["raises"]
    assert "ProviderSpec" in failures["wrongtype"]
    with pytest.raises(UnknownProviderError, match="plugin raises from raises-dist failed"):
        registry.resolve(KP, "nosuch")


@pytest.mark.parametrize("bad", ["", " env", "a:b"])
def test_invalid_spec_names_are_rejected(registry: PluginRegistry, bad: str) -> None:
    class Bad:
        @hookimpl
        def register_key_providers(self) -> list[ProviderSpec]:
            return [ProviderSpec(name=bad, factory=FakeKeyProvider)]

    registry.register(Bad(), name="bad")
    assert "invalid name" in registry.failures(KP)[0].error


def test_unknown_scheme_lists_installed_and_distribution(
    registry: PluginRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(KEY_PROVIDER.known, "gcp-kms", "tigerseal-gcp-kms")
    with pytest.raises(UnknownProviderError) as info:
        registry.resolve(KP, "gcp-kms")
    message = str(info.value)
    assert isinstance(info.value, ConfigError)
    assert "unknown key provider 'gcp-kms'" in message
    assert "env, file" in message
    assert "pip install tigerseal-gcp-kms" in message
    with pytest.raises(UnknownProviderError, match="Did you mean 'file'"):
        registry.resolve(KP, "fiel")


def test_kill_switch_disables_entry_point_loading(
    monkeypatch: pytest.MonkeyPatch, site: MakeDist
) -> None:
    u = site(
        "tigerseal-gamma",
        {GROUP: {"gamma": "ts_gamma_{u}"}},
        {"ts_gamma_{u}": provider_plugin("gamma")},
    )
    monkeypatch.setenv("TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD", "1")
    disabled = PluginRegistry()
    assert not disabled.autoload
    with pytest.raises(UnknownProviderError, match="TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD is set"):
        disabled.resolve(KP, "gamma")
    assert f"ts_gamma_{u}" not in sys.modules
    assert isinstance(disabled.resolve(KP, "env"), ProviderSpec)  # built-ins still work
    monkeypatch.setenv("TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD", "0")
    assert PluginRegistry().resolve(KP, "gamma").name == "gamma"


def test_entry_point_that_registers_another_name(registry: PluginRegistry, site: MakeDist) -> None:
    site(
        "tigerseal-liar",
        {GROUP: {"liar": "ts_liar_{u}"}},
        {"ts_liar_{u}": provider_plugin("truth")},
    )
    with pytest.raises(PluginError, match="registers no key provider named 'liar'"):
        registry.resolve(KP, "liar")


def test_string_factories_import_lazily(registry: PluginRegistry, site: MakeDist) -> None:
    u = site(
        "tigerseal-lazy",
        {GROUP: {"lazy": "ts_lazyreg_{u}"}},
        {
            "ts_lazyreg_{u}": provider_plugin("lazy").replace(
                "tigerseal.testing.fake:from_uri", "ts_lazyimpl_{u}:build"
            ),
            "ts_lazyimpl_{u}": "from tigerseal.testing.fake import from_uri\n"
            "def build(uri, **kw):\n    return from_uri('fake://lazy-{u}', **kw)\n",
        },
    )
    spec = registry.resolve(KP, "lazy")
    assert f"ts_lazyimpl_{u}" not in sys.modules
    provider = spec.create("lazy://x")
    assert f"ts_lazyimpl_{u}" in sys.modules
    assert provider.key_id == f"lazy-{u}"


def test_missing_factory_module_and_attribute() -> None:
    missing = ProviderSpec(
        name="ghost", factory="no_such_module_xyz:make", distribution="tigerseal-ghost"
    )
    with pytest.raises(MissingDependencyError, match="pip install tigerseal-ghost"):
        missing.create("ghost://x")
    typo = ProviderSpec(name="typo", factory="tigerseal.testing.fake:no_such_factory")
    with pytest.raises(PluginError, match="does not exist"):
        typo.create("typo://x")


def test_process_registry_swap_and_typed_wrapper() -> None:
    class Mine:
        @hookimpl
        def register_key_providers(self) -> list[ProviderSpec]:
            return [ProviderSpec(name="mine", factory=lambda uri: FakeKeyProvider("mine"))]

    custom = PluginRegistry(autoload=False)
    custom.register(Mine(), name="mine")
    previous = set_registry(custom)
    try:
        assert get_registry() is custom
        assert key_provider_from_uri("mine://anything").key_id == "mine"
    finally:
        set_registry(previous)
    with pytest.raises(UnknownProviderError):
        key_provider_from_uri("mine://anything")


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [
        ("env://X", "env"),
        ("FILE:///x", "file"),
        ("pkcs11:token=t;object=k", "pkcs11"),
        ("aws-kms://alias/x", "aws-kms"),
        ("redis+sentinel://h", "redis+sentinel"),
    ],
)
def test_uri_scheme(uri: str, scheme: str) -> None:
    assert uri_scheme(uri) == scheme


@pytest.mark.parametrize("bad", ["", "no-scheme", ":x", "1abc://x", "/etc/keyring.json"])
def test_bad_uri(bad: str) -> None:
    with pytest.raises(UnknownProviderError, match="is not a URI"):
        uri_scheme(bad)


def test_audit_observer_failure_is_logged_not_raised(
    registry: PluginRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[object] = []

    class Good:
        @hookimpl
        def audit_event(self, event: object) -> None:
            seen.append(event)

    class Bad:
        @hookimpl
        def audit_event(self, event: object) -> None:
            raise RuntimeError("observer broke")

    registry.register(Good(), name="good")
    registry.register(Bad(), name="bad")
    with caplog.at_level(logging.ERROR, logger="tigerseal.plugins"):
        registry.notify_audit_event({"event_type": "x"})
    assert seen == [{"event_type": "x"}]
    assert "bad" in caplog.text


def test_list_plugins_reports_versions_without_importing(site: MakeDist) -> None:
    u = site(
        "tigerseal-delta",
        {GROUP: {"delta": "ts_delta_{u}"}},
        {"ts_delta_{u}": "raise SystemExit('imported!')\n"},
        version="2.5.1",
    )
    info = next(i for i in list_plugins() if i.name == "delta")
    assert (info.group, info.distribution, info.version, info.builtin) == (
        GROUP,
        "tigerseal-delta",
        "2.5.1",
        False,
    )
    assert f"ts_delta_{u}" not in sys.modules
