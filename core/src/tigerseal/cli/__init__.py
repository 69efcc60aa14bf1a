"""The ``tigerseal`` command.

Subcommands live in small modules of this package and in plugins, which offer theirs through
the ``register_commands`` hook (e.g. ``tigerseal vault init-key``). Each is imported only when
it is invoked, so ``tigerseal --help`` stays fast: listing reads names and one-line help, not
command modules. Plugin commands follow the plugin rules: ``tigerseal plugins`` lists them and
``TIGERSEAL_DISABLE_PLUGIN_AUTOLOAD=1`` leaves out those of plugins not registered in code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from tigerseal.spi.specs import CommandSpec

__all__ = ["BUILTIN_COMMANDS", "cli", "main"]

#: name -> ("module:attribute", one-line help). Help is duplicated here so --help imports nothing.
BUILTIN_COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("tigerseal.cli._demo:demo", "Walk through the quick start on the embedded default."),
    "keygen": ("tigerseal.cli._keygen:keygen", "Create a keyring file or print a new master key."),
    "rotate": ("tigerseal.cli._keygen:rotate", "Add a new key version and make it current."),
    "encrypt": ("tigerseal.cli._crypto:encrypt", "Encrypt a file or stdin."),
    "decrypt": ("tigerseal.cli._crypto:decrypt", "Decrypt a file or stdin."),
    "inspect": ("tigerseal.cli._crypto:inspect", "Show a message's header without decrypting."),
    "rewrap": ("tigerseal.cli._crypto:rewrap", "Re-wrap files' data keys under the newest keys."),
    "retire": (
        "tigerseal.cli._rotation:retire",
        "Retire old key versions once nothing stored still uses them.",
    ),
    "pepper": ("tigerseal.cli._rotation:pepper", "Add, list and rewrap password peppers."),
    "plugins": ("tigerseal.cli._admin:plugins", "List installed plugins (imports none)."),
    "doctor": ("tigerseal.cli._admin:doctor", "Check configuration and provider health."),
    "hash-password": ("tigerseal.cli._security:hash_password", "Hash a password."),
    "verify-password": ("tigerseal.cli._security:verify_password", "Verify a password."),
    "token": ("tigerseal.cli._security:token", "Issue and verify JWTs."),
    "apikey": ("tigerseal.cli._security:apikey", "Create and verify API keys."),
    "audit": ("tigerseal.cli._audit:audit", "Verify, tail and summarise audit trails."),
    "env-template": ("tigerseal.cli._demo:env_template", "Write a .env template."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def _table(self) -> dict[str, tuple[str, str]]:
        table = dict(BUILTIN_COMMANDS)
        for name, spec in _plugin_commands().items():
            # A plugin cannot replace a built-in command.
            table.setdefault(name, ("", spec.description or f"Commands of {spec.distribution}."))
        return table

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._table())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        builtin = BUILTIN_COMMANDS.get(cmd_name)
        if builtin is None:
            spec = _plugin_commands().get(cmd_name)
            # Imported only now, when the command runs (or its --help is asked for).
            return spec.create() if spec is not None else None
        module_name, _, attr = builtin[0].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise click.ClickException(
                f"the {cmd_name!r} command could not be loaded ({exc}); reinstall tigerseal"
            ) from exc
        command: click.Command = getattr(module, attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in sorted(self._table().items())]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _plugin_commands() -> dict[str, CommandSpec]:
    """Commands of plugins (``register_commands``); a broken plugin never breaks the CLI.

    Asked once per invocation (``--help`` lists and formats the commands: two calls).
    """
    from tigerseal.errors import TigerSealError
    from tigerseal.plugins import commands

    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if root is not None and "tigerseal.plugin_commands" in root.meta:
        cached: dict[str, CommandSpec] = root.meta["tigerseal.plugin_commands"]
        return cached
    try:
        found = commands()
    except TigerSealError as exc:
        click.echo(f"warning: plugin commands unavailable: {exc}", err=True)
        found = {}
    if root is not None:
        root.meta["tigerseal.plugin_commands"] = found
    return found


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tigerseal")
@click.option(
    "--env-file",
    metavar="PATH",
    default=None,
    help="Read settings from this dotenv file (under the environment). Default: "
    "TIGERSEAL_ENV_FILE if set, else ./.env if it exists.",
)
@click.option("--no-env-file", is_flag=True, help="Read no dotenv file, not even ./.env.")
@click.pass_context
def cli(ctx: click.Context, env_file: str | None, no_env_file: bool) -> None:
    """tigerseal: envelope encryption with pluggable key stores, and security services.

    Keys are named by URIs (env://, file://, aws-kms://, vault://, pkcs11:) set in
    TIGERSEAL_KEY_PROVIDERS; see `tigerseal doctor` for what is configured. Unlike the
    library, which reads a dotenv file only when told, the command reads ./.env by default.
    """
    _choose_env_file(ctx, env_file, no_env_file)


def _choose_env_file(ctx: click.Context, env_file: str | None, no_env_file: bool) -> None:
    """Name the dotenv file for this command through TIGERSEAL_ENV_FILE (restored after)."""
    import os
    from pathlib import Path

    variable = "TIGERSEAL_ENV_FILE"
    before = os.environ.get(variable)
    if no_env_file:
        chosen: str | None = ""
    elif env_file is not None:
        chosen = str(Path(env_file).absolute())
    elif before is None and Path(".env").is_file():
        chosen = str(Path(".env").absolute())
    else:
        chosen = None
    if chosen is None or chosen == before:
        return
    from tigerseal.config import reset_settings

    os.environ[variable] = chosen
    reset_settings()

    def restore() -> None:  # the process (a test's CliRunner) keeps its own environment
        if before is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = before
        reset_settings()

    ctx.call_on_close(restore)


def main(argv: Any = None) -> None:
    """Entry point of the ``tigerseal`` script: one ``error:`` line and a documented exit status.

    The statuses are ``tigerseal.cli._exit.ExitCode`` (docs/cli.md, "Exit codes").
    """
    import os

    from tigerseal._files import install_signal_cleanup
    from tigerseal.cli._exit import ExitCode, classify
    from tigerseal.errors import TigerSealError

    # SIGTERM/SIGINT/SIGHUP remove temporary files (plaintext .part, keyring .tmp) first.
    install_signal_cleanup()
    # https://no-color.org: any non-empty NO_COLOR turns colour off, even on a terminal.
    color = False if os.environ.get("NO_COLOR") else None
    try:
        status = cli.main(args=argv, standalone_mode=False, color=color)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        raise SystemExit(ExitCode.INTERRUPTED) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(classify(exc)) from None
    except (TigerSealError, OSError) as exc:
        message = str(exc) if isinstance(exc, TigerSealError) else _os_error(exc)
        click.echo(f"error: {message}", err=True)
        raise SystemExit(classify(exc)) from None
    if isinstance(status, int) and status:
        raise SystemExit(status)


def _os_error(exc: OSError) -> str:
    from tigerseal._text import escape_control

    what = exc.strerror or type(exc).__name__
    if exc.filename is not None:
        return f"{escape_control(str(exc.filename), limit=300)}: {what}"
    return what
