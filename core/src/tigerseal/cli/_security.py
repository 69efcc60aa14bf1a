"""``tigerseal hash-password``, ``verify-password``, ``token ...`` and ``apikey ...``.

Secrets (passwords, password hashes, tokens, API keys) are read from a hidden prompt, stdin or
a file (``--from-file PATH``), never only from the command line, where they would land in shell
history and ``ps`` output. A token or hash still given as an argument works, for existing
scripts, with a warning on stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from tigerseal.errors import TigerSealError, TokenError

__all__ = ["apikey", "hash_password", "token", "verify_password"]


#: The argument that means "read it from stdin".
_STDIN = "-"
#: A secret (stdin line or file) is one short line; anything bigger is a wrong input (a binary
#: file, /dev/zero), not a token, hash or password, and must not be read into memory whole.
_MAX_SECRET_FILE = 64 * 1024


def _read_secret(what: str, *, from_stdin: bool, confirm: bool = False, after: str = "") -> str:
    """Read one secret: a hidden prompt on a terminal, else the first line of stdin (bounded).

    ``after`` completes "expected the <what> on stdin<after>, got nothing".
    """
    stream = sys.stdin
    if from_stdin or not stream.isatty():
        line: str = stream.readline(_MAX_SECRET_FILE + 1)
        if not line:
            raise click.UsageError(f"expected the {what} on stdin{after}, got nothing")
        line = line.rstrip("\r\n")
        if len(line) > _MAX_SECRET_FILE:
            raise click.UsageError(
                f"the {what} on stdin is longer than {_MAX_SECRET_FILE // 1024} KiB; it should "
                "be one line"
            )
        return line
    value: str = click.prompt(what.capitalize(), hide_input=True, confirmation_prompt=confirm)
    return value


def _read_secret_file(path: str, what: str) -> str:
    """The first line of ``path`` (``--from-file``), without its line ending."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(_MAX_SECRET_FILE + 1)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise click.BadParameter(
            f"cannot read the {what} from {path}: {reason}", param_hint="--from-file"
        ) from None
    if len(text) > _MAX_SECRET_FILE:
        raise click.BadParameter(
            f"{path} is larger than {_MAX_SECRET_FILE // 1024} KiB; it should hold the {what} "
            "on one line",
            param_hint="--from-file",
        )
    line = text.split("\n", 1)[0].rstrip("\r")
    if not line.strip():
        raise click.BadParameter(
            f"{path} is empty; it should hold the {what} on its first line",
            param_hint="--from-file",
        )
    return line


def _secret_argument(value: str | None, path: str | None, what: str) -> str | None:
    """The secret given as an argument or by ``--from-file``; ``None``: read stdin/prompt.

    An argument other than ``-`` still works but warns: other users see it in ``ps`` and
    ``/proc``, and the shell history keeps it.
    """
    given = value not in (None, _STDIN)
    if given and path is not None:
        raise click.UsageError(f"give the {what} as an argument or with --from-file, not both")
    if path is not None:
        return _read_secret_file(path, what)
    if not given:
        return None
    click.echo(
        f"warning: the {what} was given on the command line, where other users can read it "
        "(ps, /proc) and the shell history keeps it; pipe it on stdin or use --from-file PATH",
        err=True,
    )
    return value


def _fail(message: str, code: int = 1) -> None:
    click.echo(message, err=True)
    sys.exit(code)


# -- passwords ----------------------------------------------------------------------------------
@click.command("hash-password")
@click.option(
    "--algorithm",
    "-a",
    default=None,
    help="Scheme: argon2 (default from PASSWORD_HASH_ALGORITHM), bcrypt, scrypt, pbkdf2-sha256.",
)
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the password from stdin.")
@click.option(
    "--check-policy", is_flag=True, help="Refuse passwords that fail the default password policy."
)
def hash_password(algorithm: str | None, from_stdin: bool, check_policy: bool) -> None:
    """Hash a password read from a hidden prompt (or stdin) and print the hash."""
    from tigerseal.passwords import PasswordContext, check_password_policy, get_password_context

    password = _read_secret("password", from_stdin=from_stdin, confirm=True)
    if check_policy:
        result = check_password_policy(password)
        if not result.valid:
            _fail("password refused: " + "; ".join(result.errors))
    context = get_password_context()
    if algorithm:
        context = PasswordContext(algorithm, pepper=context.pepper)
    click.echo(context.hash(password))


@click.command("verify-password")
@click.argument("stored_hash", metavar="[HASH]", required=False)
@click.option(
    "--from-file",
    "hash_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Read the stored hash from the first line of this file.",
)
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the password from stdin.")
def verify_password(stored_hash: str | None, hash_file: str | None, from_stdin: bool) -> None:
    r"""Check a password against a stored hash; exit 0 if it matches, else 1.

    The hash comes from --from-file, else from stdin (its first line; omitted HASH or '-'), or
    a hidden prompt on a terminal. The password comes from a hidden prompt, or from the next
    line of stdin: printf '%s\n%s\n' "$HASH" "$PASSWORD" | tigerseal verify-password.
    HASH as an argument still works, with a warning (it shows in ps).
    """
    from tigerseal.passwords import get_password_context

    stored = _secret_argument(stored_hash, hash_file, "password hash")
    hash_on_stdin = stored is None
    if stored is None:
        stored = _read_secret("stored password hash", from_stdin=stored_hash == _STDIN).strip()
    after = " after the hash line" if hash_on_stdin else ""
    password = _read_secret("password", from_stdin=from_stdin, after=after)
    ok, new_hash = get_password_context().verify_and_update(password, stored)
    if not ok:
        _fail("invalid")
    click.echo("valid")
    if new_hash is not None:
        click.echo("note: the hash is outdated; replace it with:", err=True)
        click.echo(new_hash, err=True)


# -- tokens -------------------------------------------------------------------------------------
@click.group()
def token() -> None:
    """Issue and verify JWTs with the configured keys (JWT_SECRET or the key file)."""


def _parse_claims(pairs: tuple[str, ...]) -> dict[str, Any]:
    import inspect

    from tigerseal.tokens._manager import REGISTERED_CLAIMS, TokenManager

    # The claims go to create(**claims): a name that is one of create()'s own arguments
    # (token_type, audience, now...) would set that argument instead of adding a claim.
    params = inspect.signature(TokenManager.create).parameters.values()
    reserved = REGISTERED_CLAIMS | {p.name for p in params if p.kind is not p.VAR_KEYWORD}
    claims: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--claim")
        if name in reserved:
            raise click.BadParameter(
                f"{name!r} is set by tigerseal or by an option of this command "
                "(--subject, --scope, --expires-in, --audience, --account)",
                param_hint="--claim",
            )
        try:
            claims[name] = json.loads(value)
        except ValueError:
            claims[name] = value
    return claims


@token.command("issue")
@click.option("--subject", "-s", required=True, help="The sub claim (user or client id).")
@click.option("--scope", "scopes", multiple=True, help="A granted scope (repeatable).")
@click.option("--expires-in", type=click.IntRange(min=1), default=None, help="Lifetime (s).")
@click.option("--audience", default=None, help="The aud claim.")
@click.option("--account", "accounts", multiple=True, help="An account id (repeatable).")
@click.option("--claim", "claims", multiple=True, help="Extra claim NAME=VALUE (JSON values).")
def token_issue(
    subject: str,
    scopes: tuple[str, ...],
    expires_in: int | None,
    audience: str | None,
    accounts: tuple[str, ...],
    claims: tuple[str, ...],
) -> None:
    """Print a signed access token.

    Refused when the signing key would only live in this process (no ``JWT_SECRET`` for HS*,
    no ``TIGERSEAL_JWT_KEYS_FILE`` or signer for asymmetric algorithms): nobody could verify
    the token.
    """
    from tigerseal.config import get_security_config
    from tigerseal.tokens import get_token_manager

    config = get_security_config()
    if not config.jwt_signer:
        if config.jwt_algorithm.startswith("HS") and config.jwt_secret_generated:
            _fail(
                "JWT_SECRET is not set, so this token would be signed with a random secret "
                "that dies with this command and nobody could verify it; set JWT_SECRET "
                "(`tigerseal keygen --print --kind jwt-secret` makes one)"
            )
        if not config.jwt_algorithm.startswith("HS") and not config.jwt_keys_file:
            _fail(
                f"JWT_ALGORITHM={config.jwt_algorithm} without TIGERSEAL_JWT_KEYS_FILE: the "
                "token would be signed with a random per-process key nobody could verify; "
                "create a key file with `tigerseal token keygen --out FILE` and set it"
            )
    extra = _parse_claims(claims)
    if accounts:
        extra["accounts"] = list(accounts)
    click.echo(get_token_manager().create(subject, scopes, expires_in, audience=audience, **extra))


@token.command("verify")
@click.argument("token_text", metavar="[TOKEN]", required=False)
@click.option(
    "--from-file",
    "token_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Read the token from the first line of this file.",
)
@click.option("--require-scope", "scopes", multiple=True, help="A required scope (repeatable).")
@click.option("--audience", default=None, help="The audience this service expects.")
@click.option("--type", "token_type", type=click.Choice(["access", "refresh"]), default="access")
def token_verify(
    token_text: str | None,
    token_file: str | None,
    scopes: tuple[str, ...],
    audience: str | None,
    token_type: str,
) -> None:
    """Verify a token and print its claims as JSON; exit 1 with the reason if not valid.

    The token comes from stdin (TOKEN omitted or '-'; a hidden prompt on a terminal) or from
    --from-file PATH. TOKEN as an argument still works, with a warning (it shows in ps).
    """
    from tigerseal.tokens import get_token_manager

    text = _secret_argument(token_text, token_file, "token")
    if text is None:
        text = _read_secret("token", from_stdin=token_text == _STDIN)
    try:
        payload = get_token_manager().verify(
            text.strip(), required_scopes=scopes, audience=audience, token_type=token_type
        )
    except TokenError as exc:
        _fail(f"invalid: {exc}")
        return
    click.echo(json.dumps(payload.claims, indent=2, sort_keys=True))


@token.command("keygen")
@click.option(
    "--algorithm",
    "-a",
    type=click.Choice(["EdDSA", "ES256", "ES384", "ES512", "RS256", "PS256"]),
    default="EdDSA",
    show_default=True,
)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Key file.")
@click.option("--rotate", is_flag=True, help="Add a new current key to an existing file.")
def token_keygen(algorithm: str, out: str, rotate: bool) -> None:
    """Create a JWT key file (mode 0600) for TIGERSEAL_JWT_KEYS_FILE, or rotate one."""
    from pathlib import Path

    from tigerseal.tokens import JWTKey, KeySet

    path = Path(out)
    if path.exists() and not rotate:
        _fail(f"{path} exists; pass --rotate to add a new current key to it", 2)
    keys = KeySet.load(path) if path.exists() else KeySet()
    key = keys.add(JWTKey.generate(algorithm), make_current=True)
    keys.save(path)
    click.echo(f"{path}: current key {key.kid} ({key.algorithm}), {len(keys)} key(s)")


@token.command("jwks")
def token_jwks() -> None:
    """Print the public keys as a JWKS (for /.well-known/jwks.json)."""
    from tigerseal.tokens import get_jwks

    click.echo(json.dumps(get_jwks(), indent=2))


# -- API keys -----------------------------------------------------------------------------------
@click.group()
def apikey() -> None:
    """Create and verify API keys (prefix_ + random + checksum; only a hash is stored)."""


@apikey.command("create")
@click.option("--prefix", default=None, help="Key prefix (default TIGERSEAL_API_KEY_PREFIX).")
@click.option("--scope", "scopes", multiple=True, help="A granted scope (repeatable).")
@click.option("--expires-in", type=click.IntRange(min=1), default=None, help="Lifetime (s).")
@click.option("--name", default="", help="A label for the key.")
@click.option("--json", "as_json", is_flag=True, help="Print the key and its record as JSON.")
def apikey_create(
    prefix: str | None, scopes: tuple[str, ...], expires_in: int | None, name: str, as_json: bool
) -> None:
    """Generate a key. The key is shown once; store the hash (or the JSON record)."""
    from tigerseal.apikeys import APIKeyRecord
    from tigerseal.config import get_settings

    key, record = APIKeyRecord.create(
        prefix or get_settings().api_key_prefix, scopes=scopes, expires_in=expires_in, name=name
    )
    if as_json:
        click.echo(json.dumps({"api_key": key, "record": record.to_dict()}, indent=2))
        return
    click.echo(f"api_key:  {key}")
    click.echo(f"key_id:   {record.key_id}")
    click.echo(f"key_hash: {record.key_hash}")
    click.echo("The key is not stored anywhere; copy it now.", err=True)


@apikey.command("verify")
@click.option("--hash", "key_hash", default=None, help="Stored hash to check the key against.")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the key from stdin.")
def apikey_verify(key_hash: str | None, from_stdin: bool) -> None:
    """Check a key (prompt or stdin): its format and checksum, and against --hash if given."""
    from tigerseal.apikeys import api_key_id, parse_api_key, verify_api_key

    key = _read_secret("API key", from_stdin=from_stdin).strip()
    try:
        parse_api_key(key)
    except TigerSealError as exc:
        _fail(f"invalid: {exc}")
    if key_hash is not None and not verify_api_key(key, key_hash.strip()):
        _fail("invalid: the key does not match the hash")
    click.echo(f"valid ({api_key_id(key)})")
