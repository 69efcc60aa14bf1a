"""``tigerseal demo`` (the seed's quick start, run for real) and ``tigerseal env-template``."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

__all__ = ["demo", "env_template"]

# Settings the demo pins for its own run, so a developer's .env or shell cannot point it at
# real keys or a real audit trail.
_PINNED = (
    "TIGERSEAL_KEY_PROVIDERS",
    "TIGERSEAL_KEYRING_PATH",
    "TIGERSEAL_AUDIT_SINKS",
    "TIGERSEAL_RATE_LIMIT_STORAGE",
    "TIGERSEAL_RATE_LIMIT_ALGORITHM",
    "TIGERSEAL_REVOCATION_STORE",
    "TIGERSEAL_CACHE_ENABLED",
    "TIGERSEAL_ENVIRONMENT",
    "TIGERSEAL_JWT_SECRET",
    "TIGERSEAL_ENV_FILE",
)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    from tigerseal.audit import _metrics as metrics

    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    _reset_all()
    metrics.reset()  # the figures printed are this run's
    try:
        yield
    finally:
        _reset_all()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _reset_all()


def _reset_all() -> None:
    from tigerseal.audit import reset_auditor
    from tigerseal.config import reset_settings
    from tigerseal.envelope import reset_encryption_service
    from tigerseal.ratelimit import reset_rate_limiter
    from tigerseal.seed import reset_security_service

    reset_auditor()
    reset_rate_limiter()
    reset_security_service()
    reset_encryption_service()
    reset_settings()


class _Printer:
    def __init__(self) -> None:
        self.step = 0

    def section(self, title: str) -> None:
        self.step += 1
        click.echo()
        click.secho(f"{self.step}. {title}", bold=True)

    def fact(self, text: str) -> None:
        click.echo(f"   {text}")

    def good(self, text: str) -> None:
        click.secho(f"   ok: {text}", fg="green")

    def refused(self, what: str, call: Callable[[], object], error: type[Exception]) -> None:
        """Print that ``call`` was refused with ``error``; a demo that cannot show it fails."""
        try:
            call()
        except error as exc:
            self.good(f"{what} is refused ({type(exc).__name__})")
            return
        raise click.ClickException(f"{what} was accepted: this is a bug, please report it")


def _mask(secret: str, keep: int = 6) -> str:
    """The first characters of a throwaway secret, enough to recognise its format."""
    return f"{secret[:keep]}... ({len(secret)} chars)"


@click.command()
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the demo's keyring and audit trail here (default: a temporary directory, "
    "removed afterwards).",
)
def demo(state_dir: Path | None) -> None:
    """Walk through the quick start on the embedded default: no servers, no configuration.

    Generates keys, encrypts and decrypts, binds broker credentials to their row, hashes a
    password, issues and verifies a token, creates an API key, rate-limits, audits, and
    verifies the audit trail. Every value printed is computed by this run.
    """
    temporary = state_dir is None
    state = Path(tempfile.mkdtemp(prefix="tigerseal-demo-")) if state_dir is None else state_dir
    state = state.resolve()
    try:
        _run(state)
    finally:
        if temporary:
            shutil.rmtree(state, ignore_errors=True)
    click.echo()
    if temporary:
        click.echo("The demo's keys and audit trail were in a temporary directory, now removed.")
    else:
        click.echo(f"The demo's keyring and audit trail are in {state}.")
    click.echo(
        "Next: `tigerseal env-template --generate .env` writes a configuration with fresh secrets."
    )


def _run(state: Path) -> None:
    from tigerseal.providers.file import create_keyring
    from tigerseal.seed import KeyManager

    p = _Printer()
    p.section("Keys (KeyManager, as the quick start's step 1)")
    km = KeyManager()
    master = km.generate_master_key()
    jwt_secret = km.generate_jwt_secret()
    p.fact(f"ENCRYPTION_MASTER_KEY: {len(master) * 4}-bit key as {len(master)} hex characters")
    p.fact(f"JWT_SECRET: {len(jwt_secret)} characters of URL-safe base64")
    p.fact("(not printed; `tigerseal keygen --print` prints one for your .env)")
    keyring_path = state / "keyring.json"
    create_keyring(keyring_path, exist_ok=True)
    mode = keyring_path.stat().st_mode & 0o777
    p.fact(f"development keyring: {keyring_path} (mode {mode:o})")

    env = {
        "TIGERSEAL_KEY_PROVIDERS": f"file://{keyring_path}",
        "TIGERSEAL_KEYRING_PATH": str(keyring_path),
        "TIGERSEAL_AUDIT_SINKS": f"file://{state / 'audit.jsonl'}",
        "TIGERSEAL_RATE_LIMIT_STORAGE": "memory://",
        "TIGERSEAL_RATE_LIMIT_ALGORITHM": "sliding_window_log",
        "TIGERSEAL_REVOCATION_STORE": "memory://",
        "TIGERSEAL_CACHE_ENABLED": "false",
        "TIGERSEAL_ENVIRONMENT": "development",
        "TIGERSEAL_JWT_SECRET": jwt_secret,
        "TIGERSEAL_ENV_FILE": "",  # no dotenv file: the demo's settings are exactly these
    }
    assert set(env) == set(_PINNED)
    with _environment(env):
        _encryption(p)
        _credentials(p)
        _passwords(p)
        _tokens(p)
        _api_keys(p)
        _rate_limits(p)
        _audit(p, state / "audit.jsonl")


def _encryption(p: _Printer) -> None:
    from tigerseal.envelope import get_encryption_service
    from tigerseal.errors import DecryptionError

    p.section("Envelope encryption (get_encryption_service)")
    svc = get_encryption_service()
    provider = svc.providers[0]
    p.fact(f"key provider: {provider.scheme}, key version {provider.key_version}")
    encrypted = svc.encrypt("sensitive data")
    text = str(encrypted)
    p.fact(f"Encrypted with key version: {encrypted.key_version}")
    p.fact(f"ciphertext: {len(bytes(encrypted))} bytes, stored as text {text[:12]}...")
    decrypted = svc.decrypt_to_string(encrypted)
    p.fact(f"Decrypted: {decrypted}")
    tampered = bytearray(bytes(encrypted))
    tampered[-1] ^= 0x01
    p.refused(
        "a message with one flipped bit", lambda: svc.decrypt(bytes(tampered)), DecryptionError
    )


def _credentials(p: _Printer) -> None:
    from tigerseal.errors import ContextMismatchError
    from tigerseal.seed import decrypt_tiger_account_data, encrypt_tiger_account_data

    p.section("Tiger credentials (encrypt_tiger_account_data), bound to field and account")
    enc = encrypt_tiger_account_data(
        tiger_id="12345",
        private_key="-----BEGIN PRIVATE KEY-----\n...",
        access_token="access_token_here",  # noqa: S106 - the seed's placeholder values
        refresh_token="refresh_token_here",  # noqa: S106
        account_id=42,
    )
    p.fact(f"fields encrypted separately: {', '.join(enc)}")
    p.fact(f"context of private_key: {enc['private_key'].context}")
    row = {name: value.json() for name, value in enc.items()}  # as stored in a database
    creds = decrypt_tiger_account_data(row, account_id=42)
    p.fact(f"decrypted for account 42: tiger_id={creds['tiger_id']}")
    p.refused(
        "the same row read as account 43",
        lambda: decrypt_tiger_account_data(row, account_id=43),
        ContextMismatchError,
    )
    p.refused(
        "a token copied into the tiger_id column",
        lambda: decrypt_tiger_account_data({"tiger_id": row["access_token"]}, account_id=42),
        ContextMismatchError,
    )


def _passwords(p: _Printer) -> None:
    from tigerseal.seed import get_security_service

    p.section("Passwords (get_security_service().hash_password)")
    security = get_security_service()
    start = time.perf_counter()
    stored = security.hash_password("user_password")
    took = (time.perf_counter() - start) * 1000
    p.fact(f"hash: {stored.rsplit('$', 2)[0]}$... ({took:.0f} ms)")
    p.fact(f"verify('user_password'): {security.verify_password('user_password', stored)}")
    p.fact(f"verify('user_passw0rd'): {security.verify_password('user_passw0rd', stored)}")


def _tokens(p: _Printer) -> None:
    from tigerseal.errors import TokenError
    from tigerseal.seed import get_security_service
    from tigerseal.tokens import create_jwt_token

    p.section("JWT (create_jwt_token, verify_token)")
    token = create_jwt_token(subject="user_id", scopes=["read", "write"], expires_in=3600)
    payload = get_security_service().verify_token(token)
    p.fact(f"token: {token.count('.') + 1} segments, {len(token)} characters")
    p.fact(f"Token subject: {payload.sub}")
    p.fact(f"Token scopes: {payload.scopes}")
    p.fact(f"expires in: {payload['exp'] - payload['iat']} s")
    head, body, sig = token.split(".")
    forged = ".".join((head, body, sig[::-1]))
    p.refused(
        "a token with a forged signature",
        lambda: get_security_service().verify_token(forged),
        TokenError,
    )


def _api_keys(p: _Printer) -> None:
    from tigerseal.seed import get_security_service

    p.section("API keys (generate_api_key)")
    security = get_security_service()
    api_key, key_hash = security.generate_api_key("tk")
    p.fact(f"key: {_mask(api_key)}; stored: SHA-256, {len(key_hash)} hex characters")
    p.fact(f"verify(key): {security.verify_api_key(api_key, key_hash)}")
    typo = api_key[:-1] + ("a" if api_key[-1] != "a" else "b")
    p.fact(f"verify(key with one typo): {security.verify_api_key(typo, key_hash)}")


def _rate_limits(p: _Printer) -> None:
    from tigerseal.ratelimit import verify_rate_limit
    from tigerseal.seed import get_security_service

    p.section("Rate limiting (verify_rate_limit: 5 requests per minute)")
    results = [verify_rate_limit("api_key_12345", max_requests=5, window_size=60) for _ in range(7)]
    p.fact(f"7 requests: {results.count(True)} allowed, {results.count(False)} refused")
    status: dict[str, Any] = get_security_service().get_rate_limit_status("api_key_12345")
    p.fact(f"Requests remaining: {status['requests_remaining']}")
    p.fact(f"retry after: {status['retry_after']:.0f} s")
    for name, value in status["headers"].items():
        p.fact(f"{name}: {value}")


def _audit(p: _Printer, path: Path) -> None:
    from tigerseal.audit import (
        audit_security_event,
        get_security_metrics,
        reset_auditor,
        verify_audit_file,
    )

    p.section("Security audit (audit_security_event, get_security_metrics)")
    audit_security_event(
        event_type="api_key_created",
        api_key_id="key_123",
        details={"scopes": ["read", "write"], "password": "never written"},
        risk_level="low",
        source_ip="192.168.1.1",
    )
    summary = get_security_metrics()["security_summary"]
    p.fact(f"Total events: {summary['total_events']}")
    p.fact(f"Critical events: {summary['critical_events_count']}")
    p.fact(f"by type: {summary['events_by_type']}")
    p.fact(f"rate-limit rejections: {summary['rate_limit_rejections']}")
    reset_auditor()  # close the trail: final HMAC checkpoint
    p.fact(f"trail: {path}")
    if "never written" in path.read_text():
        raise click.ClickException("a password reached the audit trail: this is a bug")
    p.good("the 'password' detail was redacted before writing")
    report = verify_audit_file(path)
    if not report.ok:
        raise click.ClickException(f"the demo's own audit trail does not verify: {report.errors}")
    p.fact(
        f"tigerseal audit verify: OK, {report.records} chained records, "
        f"{report.verified_checkpoints} HMAC checkpoint(s) verified"
    )


@click.command("env-template")
@click.argument("path", default=".env.template", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--generate",
    is_flag=True,
    help="Fill in fresh secrets (ENCRYPTION_MASTER_KEY, JWT_SECRET) instead of placeholders; "
    "the file is then a secret (mode 0600), e.g. `env-template --generate .env`.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace the file if it exists, after copying it to PATH.<UTC time>.bak (mode 0600; "
    "its master key may still be needed to decrypt data).",
)
@click.option(
    "--environment",
    default="development",
    show_default=True,
    help="ENVIRONMENT value to write (production templates get no development defaults).",
)
def env_template(path: str, generate: bool, force: bool, environment: str) -> None:
    """Write a commented .env template to PATH (default .env.template; - for stdout).

    Without --generate the secrets are placeholders, so the template can be committed and
    filled in per deployment. Every file is written with mode 0600.
    """
    from pathlib import Path

    from tigerseal._files import backup_name
    from tigerseal.config import generate_env_template
    from tigerseal.config._template import env_template_text
    from tigerseal.errors import ConfigError

    if path == "-":
        try:
            text = env_template_text(environment, placeholders=not generate)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--environment") from exc
        click.echo(text, nl=False)
        return
    backup = backup_name(Path(path)) if force else None
    try:
        written = generate_env_template(
            path,
            overwrite=force,
            environment=environment,
            backup_to=backup,
            placeholders=not generate,
        )
    except ConfigError as exc:
        if Path(path).exists() and not force:
            raise click.UsageError(str(exc)) from exc
        raise
    if backup is not None and backup.exists():
        click.echo(
            f"backed up the previous {path} to {backup} (mode 0600): its ENCRYPTION_MASTER_KEY "
            "may still be needed to decrypt data; delete it only when nothing uses that key"
        )
    if generate:
        click.echo(
            f"wrote {written} (mode 0600) with a fresh ENCRYPTION_MASTER_KEY and JWT_SECRET; "
            "it holds secrets: keep it out of version control"
        )
    else:
        click.echo(
            f"wrote {written} with placeholders for the secrets; fill them in, or run "
            "`tigerseal env-template --generate .env` for fresh ones"
        )
