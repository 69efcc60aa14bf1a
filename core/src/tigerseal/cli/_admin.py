"""``tigerseal plugins`` (list, importing nothing) and ``tigerseal doctor`` (health report)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import click

from tigerseal._redact import redact_uri

if TYPE_CHECKING:
    from tigerseal.config import Settings

__all__ = ["configured_key_provider_uris", "doctor", "plugins", "redact_uri"]


# -- plugins ------------------------------------------------------------------------------------
@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--group", "groups", multiple=True, help="Only this entry-point group (repeatable).")
@click.option(
    "--load",
    is_flag=True,
    help=(
        "Also import every installed plugin, list the commands they add (group commands) and "
        "report the ones that fail (runs their code)."
    ),
)
def plugins(as_json: bool, groups: tuple[str, ...], load: bool) -> None:
    """List installed plugins: built-ins and entry points, without importing them.

    Commands of installed plugins (``register_commands``) are listed with ``--load``.
    """
    from tigerseal.plugins import get_registry, list_plugins

    # Loading first, so the listing shows the commands the loaded plugins register.
    failures = get_registry().load_all() if load else []
    infos = list_plugins(groups or None)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "plugins": [asdict(info) for info in infos],
                    "failures": [asdict(f) for f in failures],
                },
                indent=2,
            )
        )
    else:
        rows = [
            (
                i.group.removeprefix("tigerseal."),
                i.name,
                i.distribution,
                i.version,
                "builtin" if i.builtin else i.target,
            )
            for i in infos
        ]
        header = ("GROUP", "NAME", "DISTRIBUTION", "VERSION", "SOURCE")
        widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header))]
        for row in [header, *rows]:
            click.echo(
                "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
            )
        for failure in failures:
            click.echo(
                f"FAILED {failure.group} {failure.name} ({failure.distribution}): {failure.error}",
                err=True,
            )
    if failures:
        raise SystemExit(1)


# -- doctor -------------------------------------------------------------------------------------
def configured_key_provider_uris(settings: Settings) -> list[str]:
    """The key-provider URIs the settings select (:func:`tigerseal.config.select_key_providers`).

    Raises:
        ConfigError: nothing is configured where the development keyring is refused.
    """
    from tigerseal.config import select_key_providers

    return list(select_key_providers(settings).uris)


@dataclass
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    latency_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _settings_summary(settings: Settings) -> dict[str, Any]:
    def is_set(value: object) -> str:
        return "set" if value is not None else "not set"

    from tigerseal.config import SOURCE_EXPLICIT, select_key_providers
    from tigerseal.errors import ConfigError

    try:
        selection = select_key_providers(settings)
        uris: list[str] = [redact_uri(u) for u in selection.uris]
        source = selection.source
    except ConfigError:
        uris, source = [], "none (refused: see the key providers check)"
    return {
        "environment": settings.environment,
        "production": settings.is_production,
        "key_providers": uris,
        "key_providers_source": source,
        "key_providers_explicit": source == SOURCE_EXPLICIT,
        "keyring_path": settings.keyring_path,
        "ENCRYPTION_MASTER_KEY": is_set(settings.encryption_master_key),
        "JWT_SECRET": is_set(settings.jwt_secret),
        "DATABASE_URL": redact_uri(settings.database_url.get_secret_value())
        if settings.database_url is not None
        else "not set",
        "password_hash_algorithm": settings.password_hash_algorithm,
        "pbkdf2_iterations": settings.pbkdf2_iterations,
        "cache_enabled": settings.cache_enabled,
        "rate_limit_storage": redact_uri(settings.rate_limit_storage),
        "revocation_store": redact_uri(settings.revocation_store),
        "audit_sinks": [redact_uri(u) for u in settings.audit_sinks.split()],
    }


def _provider_checks(settings: Settings) -> list[Check]:
    from tigerseal.config import select_key_providers
    from tigerseal.errors import TigerSealError
    from tigerseal.plugins import key_provider_from_uri

    try:
        selection = select_key_providers(settings)
    except TigerSealError as exc:
        return [Check("key providers", False, f"{type(exc).__name__}: {exc}")]
    checks = []
    uris = list(selection.uris)
    if selection.dev_keyring is not None:
        keyring = selection.dev_keyring
        if keyring.exists():
            state = f"using the development keyring {keyring}"
        else:
            # A fresh checkout: the first encrypt creates it. Not a failure, and the doctor
            # only looks, so it does not create it either.
            state = f"the development keyring {keyring} will be created on first use"
            uris = []  # the dev keyring is the whole selection: nothing else to probe
        checks.append(
            Check(
                "development keyring",
                True,
                f"no key configured: {state} (local development only; set "
                "ENCRYPTION_MASTER_KEY or TIGERSEAL_KEY_PROVIDERS for deployments)",
            )
        )
    for uri in uris:
        name = f"key provider {redact_uri(uri)}"
        start = time.perf_counter()
        try:
            provider = key_provider_from_uri(uri)
        except TigerSealError as exc:
            elapsed = (time.perf_counter() - start) * 1000
            checks.append(Check(name, False, f"{type(exc).__name__}: {exc}", elapsed))
            continue
        try:
            status = provider.health_check()
        finally:
            provider.close()
        extra = {"key_id": status.key_id, "key_version": status.key_version}
        checks.append(Check(name, status.ok, status.detail, status.latency_ms, extra))
    return checks


def _plugin_checks(settings: Settings, load_all: bool) -> list[Check]:
    """Resolve every configured plugin name (loading only those), report failures by name."""
    from tigerseal.errors import TigerSealError
    from tigerseal.plugins import get_registry, uri_scheme

    registry = get_registry()
    wanted = [
        ("register_password_hashers", settings.password_hash_algorithm),
        ("register_rate_limit_storage", settings.rate_limit_storage),
        ("register_revocation_stores", settings.revocation_store),
        *(("register_audit_sinks", uri) for uri in settings.audit_sinks.split()),
    ]
    checks = []
    for hook, value in wanted:
        try:
            name = value if hook == "register_password_hashers" else uri_scheme(value)
            spec = registry.resolve(hook, name)
        except TigerSealError as exc:
            label = redact_uri(value) if hook != "register_password_hashers" else value
            checks.append(Check(f"plugin {label}", False, f"{type(exc).__name__}: {exc}"))
            continue
        checks.append(Check(f"plugin {name} ({spec.kind})", True, f"from {spec.distribution}"))
    if load_all:
        for failure in registry.load_all():
            checks.append(
                Check(
                    f"plugin {failure.name} ({failure.group})",
                    False,
                    failure.error,
                    extra={"distribution": failure.distribution},
                )
            )
    return checks


def _production_checks(settings: Settings) -> list[Check]:
    if not settings.is_production:
        return []
    checks = []
    # Missing keys and fake:// are reported by _provider_checks (select_key_providers).
    if settings.jwt_secret is None:
        checks.append(
            Check(
                "JWT_SECRET",
                False,
                "not set; generate one with `tigerseal keygen --print --kind jwt-secret`",
            )
        )
    checks.extend(_per_process_store_checks(settings))
    return checks


def _per_process_store_checks(settings: Settings) -> list[Check]:
    """memory:// stores in production, by the rule their factories enforce at first use."""
    from tigerseal.errors import TigerSealError
    from tigerseal.plugins import (
        rate_limit_storage_from_uri,
        revocation_store_from_uri,
        uri_scheme,
    )

    checks = []
    stores: tuple[tuple[str, str, Any], ...] = (
        ("TIGERSEAL_RATE_LIMIT_STORAGE", settings.rate_limit_storage, rate_limit_storage_from_uri),
        ("TIGERSEAL_REVOCATION_STORE", settings.revocation_store, revocation_store_from_uri),
    )
    for variable, uri, build in stores:
        try:
            if uri_scheme(uri) != "memory":
                continue
            build(uri)  # nothing to release: a memory store holds no connection
        except TigerSealError as exc:
            checks.append(Check(variable, False, str(exc)))
    return checks


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--load-all-plugins",
    is_flag=True,
    help="Also import every installed plugin and report failures (runs their code).",
)
def doctor(as_json: bool, load_all_plugins: bool) -> None:
    """Check the configuration and every configured key provider; exit 1 if anything fails.

    Prints the settings without secrets, each provider's health check with its latency, and
    the plugins the configuration names. Nothing is written.
    """
    from tigerseal.config import get_settings
    from tigerseal.errors import TigerSealError

    try:
        settings = get_settings()
    except (TigerSealError, ValueError) as exc:
        # Invalid settings are a finding like any other: report them, in the requested format.
        _report(as_json, None, [Check("settings", False, f"settings are invalid: {exc}")])
        raise SystemExit(1) from None
    checks = [
        # Fallback (seed-named) variables set aside as invalid: only the calls that need them
        # fail, so this is where they are seen before one does.
        *(
            Check(
                "settings",
                False,
                f"{message}; set {settings.variable_for(name)!s} or "
                f"TIGERSEAL_{name.upper()} to tigerseal's own value",
            )
            for name, message in settings.problems.items()
        ),
        *_production_checks(settings),
        *_provider_checks(settings),
        *_plugin_checks(settings, load_all_plugins),
    ]
    if not _report(as_json, settings, checks):
        raise SystemExit(1)


def _report(as_json: bool, settings: Settings | None, checks: list[Check]) -> bool:
    """Print the doctor's report; return whether everything is healthy."""
    healthy = all(c.ok for c in checks)
    summary = _settings_summary(settings) if settings is not None else None
    if as_json:
        report = {"ok": healthy, "settings": summary, "checks": [asdict(c) for c in checks]}
        click.echo(json.dumps(report, indent=2))
        return healthy
    if summary is not None:
        click.echo("settings:")
        for key, value in summary.items():
            click.echo(f"  {key}: {value}")
    click.echo("checks:")
    for check in checks:
        latency = f" [{check.latency_ms:.1f} ms]" if check.latency_ms is not None else ""
        mark = "ok  " if check.ok else "FAIL"
        click.echo(f"  {mark} {check.name}{latency}: {check.detail}")
    click.echo("healthy" if healthy else "UNHEALTHY: see FAIL lines above")
    return healthy
