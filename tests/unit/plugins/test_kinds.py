"""One table of plugin kinds, and plugin commands through the ``register_commands`` hook."""

from __future__ import annotations

import inspect
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from tigerseal import hookspecs, plugins
from tigerseal.cli import BUILTIN_COMMANDS, cli
from tigerseal.errors import UnknownProviderError
from tigerseal.plugins import PluginRegistry, create, set_registry
from tigerseal.spi import CommandSpec, ProviderSpec
from tigerseal.spi.kinds import COMMAND, KEY_PROVIDER, KINDS, kind_of_hook, kind_of_spec

from .conftest import MakeDist

GROUP = "tigerseal.key_providers"

COMMAND_PLUGIN = """
from tigerseal.hookspecs import hookimpl
from tigerseal.spi.specs import CommandSpec, ProviderSpec


@hookimpl
def register_key_providers():
    return [ProviderSpec(name="hello{u}", factory="tigerseal.testing.fake:from_uri")]


@hookimpl
def register_commands():
    return [CommandSpec(name="hello{u}", factory="ts_hello_cli_{u}:hello", description="Say hi.")]
"""

COMMAND_MODULE = """
import click

@click.command()
@click.argument("who")
def hello(who):
    click.echo(f"hello {who}")
"""


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    previous = set_registry(PluginRegistry())
    yield
    set_registry(previous)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_every_registration_hook_has_exactly_one_row() -> None:
    registration = {
        name
        for name, obj in vars(hookspecs).items()
        if name.startswith(("register_", "report_")) and callable(obj)
    }
    assert {k.hook for k in KINDS.values()} == registration
    for kind in KINDS.values():
        assert kind_of_hook(kind.hook) is kind
        if kind.spec_type is not None:
            assert kind_of_spec(kind.spec_type) is kind
    # The label a spec shows in its messages comes from the table.
    assert ProviderSpec("x", "m:f").kind == "key provider"
    assert CommandSpec("x", "m:f").kind == "command"


def test_the_typed_builders_need_no_cast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: six wrappers each ``cast`` the untyped result of ``spec.create``."""
    source = inspect.getsource(plugins)
    assert "cast(" not in source
    monkeypatch.setenv("SPICON_KEK", secrets.token_hex(32))
    provider = create(KEY_PROVIDER, "env", "env://SPICON_KEK")
    assert provider.scheme == "env"


def test_unknown_name_hint_comes_from_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(KEY_PROVIDER.known, "gcp-kms", "tigerseal-gcp-kms")
    with pytest.raises(UnknownProviderError, match="pip install tigerseal-gcp-kms"):
        plugins.key_provider_from_uri("gcp-kms://k")


def test_the_commands_group_is_gone() -> None:
    """Before: vault, pkcs11 and sql declared ``tigerseal.commands`` entry points."""
    root = Path(__file__).resolve().parents[3]
    declared = [
        str(p.relative_to(root))
        for p in sorted(root.glob("*/**/pyproject.toml"))
        if ".venv" not in p.parts and "tigerseal.commands" in p.read_text()
    ]
    assert declared == []
    assert COMMAND.group is None


def test_provider_commands_come_from_register_commands() -> None:
    found = plugins.commands()
    assert {"vault", "pkcs11", "sql"} <= set(found)
    assert found["vault"].distribution == "tigerseal-vault"
    for name in ("vault", "pkcs11", "sql"):
        assert isinstance(found[name].create(), click.Command)  # imported only now
    code, output = invoke("--help")
    assert code == 0, output
    for name in ("vault", "pkcs11", "sql"):
        assert f"  {name} " in output


def test_a_plugin_command_is_listed_lazily_and_runs(site: MakeDist) -> None:
    u = site(
        "tigerseal-hello",
        {GROUP: {"hello{u}": "ts_hello_{u}"}},
        {"ts_hello_{u}": COMMAND_PLUGIN, "ts_hello_cli_{u}": COMMAND_MODULE},
    )
    code, output = invoke("--help")
    assert code == 0, output
    assert f"hello{u}" in output
    assert "Say hi." in output
    # Listing imported the plugin's hook module, not its command module.
    assert f"ts_hello_{u}" in sys.modules
    assert f"ts_hello_cli_{u}" not in sys.modules
    code, output = invoke(f"hello{u}", "world")
    assert (code, output) == (0, "hello world\n")


def test_plugins_load_lists_commands(site: MakeDist) -> None:
    u = site(
        "tigerseal-hello",
        {GROUP: {"hello{u}": "ts_hello_{u}"}},
        {"ts_hello_{u}": COMMAND_PLUGIN, "ts_hello_cli_{u}": COMMAND_MODULE},
    )
    code, output = invoke("plugins", "--load", "--json")
    assert code == 0, output
    rows = [r for r in json.loads(output)["plugins"] if r["group"] == "commands"]
    mine = next(r for r in rows if r["name"] == f"hello{u}")
    assert mine["distribution"] == "tigerseal-hello"
    assert mine["target"] == f"ts_hello_cli_{u}:hello"


def test_switch_off_variable_covers_commands(
    site: MakeDist, monkeypatch: pytest.MonkeyPatch
) -> None:
    u = site(
        "tigerseal-hello",
        {GROUP: {"hello{u}": "ts_hello_{u}"}},
        {"ts_hello_{u}": COMMAND_PLUGIN, "ts_hello_cli_{u}": COMMAND_MODULE},
    )
    monkeypatch.setenv("TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD", "1")
    set_registry(PluginRegistry())
    code, output = invoke("--help")
    assert code == 0, output
    assert f"hello{u}" not in output
    assert f"ts_hello_{u}" not in sys.modules
    assert "vault" not in output.split("Commands:")[1]


def test_a_plugin_cannot_replace_a_builtin_command(site: MakeDist) -> None:
    source = COMMAND_PLUGIN.replace('CommandSpec(name="hello{u}"', 'CommandSpec(name="encrypt"')
    site(
        "tigerseal-evil",
        {GROUP: {"hello{u}": "ts_hello_{u}"}},
        {"ts_hello_{u}": source, "ts_hello_cli_{u}": COMMAND_MODULE},
    )
    assert "encrypt" in BUILTIN_COMMANDS
    code, output = invoke("encrypt", "--help")
    assert code == 0, output
    assert "Encrypt" in output


def test_help_lists_plugin_commands_without_importing_heavy_modules() -> None:
    """``tigerseal --help`` imports plugin hook modules only: no built-in plugin, no command
    module, no SDK (listing commands used to read entry-point metadata only; it must stay
    about as cheap)."""
    code = (
        "import sys\n"
        "from tigerseal.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ['tigerseal.providers.env', 'tigerseal.ratelimit', 'tigerseal.audit',\n"
        "         'tigerseal_vault._cli', 'tigerseal_pkcs11._cli', 'tigerseal_sql.cli',\n"
        "         'boto3', 'hvac', 'pkcs11', 'sqlalchemy', 'redis']\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIGERSEAL_")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "  vault " in result.stdout
    assert "LOADED []" in result.stdout, result.stdout.splitlines()[-1]
