"""A commented ``.env`` template with fresh secrets (:func:`generate_env_template`)."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from tigerseal.config._constants import _ENVIRONMENTS
from tigerseal.errors import ConfigError

__all__ = ["env_template_text", "generate_env_template"]

#: What a placeholder template shows instead of a secret (a file safe to commit).
_PLACEHOLDERS = {
    "TIGERSEAL_ENCRYPTION_MASTER_KEY": "<64 hex chars: tigerseal keygen --print>",
    "TIGERSEAL_JWT_SECRET": "<at least 32 random characters>",
}


def generate_env_template(
    path: str | os.PathLike[str] = ".env.template",
    *,
    overwrite: bool = False,
    environment: str = "development",
    backup_to: str | os.PathLike[str] | None = None,
    placeholders: bool = False,
) -> Path:
    """Write a commented ``.env`` template with freshly generated secrets.

    Every setting is listed with its description and default; ``ENCRYPTION_MASTER_KEY`` and
    ``JWT_SECRET`` get new random values (so the file is a secret: it is created with mode
    0600). An existing file is never overwritten silently.

    Args:
        path: where to write.
        overwrite: replace an existing file (atomically) instead of refusing.
        environment: the ``ENVIRONMENT`` value to write.
        backup_to: with ``overwrite``, first copy an existing file here (mode 0600, never over
            an existing file): its master key may still wrap data (``env-template --force``).
        placeholders: write placeholders instead of fresh secrets (a template to commit and
            fill in; the CLI's default).

    Returns:
        The path written.

    Raises:
        ConfigError: the file exists and ``overwrite`` is false.
    """
    target = Path(path)
    text = env_template_text(environment, placeholders=placeholders)
    if not overwrite:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise ConfigError(
                f"{target} already exists; pass overwrite=True (CLI: --force) to replace it, "
                "or choose another path"
            ) from None
        from tigerseal import _files

        try:
            _files.write_all(fd, text.encode("utf-8"))
            os.fsync(fd)  # it holds a fresh master key: a crash must not leave it empty
        finally:
            os.close(fd)
        _files.fsync_dir(target.parent.absolute())
        return target
    from tigerseal import _files

    if backup_to is not None and target.exists():
        try:
            _files.write_backup(target, Path(backup_to))
        except OSError as exc:
            raise ConfigError(
                f"could not back up {target} to {backup_to} ({exc.strerror}); nothing was replaced"
            ) from exc
    target = _files.rename_target(target)  # a linked .env is replaced where it lives
    # fsynced like a keyring: the file holds the master key that wraps existing data.
    _files.write_private(target, text.encode("utf-8"))
    return target


_TEMPLATE_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Required in production",
        ("TIGERSEAL_ENVIRONMENT", "TIGERSEAL_ENCRYPTION_MASTER_KEY", "TIGERSEAL_JWT_SECRET",
         "TIGERSEAL_DATABASE_URL"),
    ),
    (
        "Passwords, tokens and API keys",
        (
            "TIGERSEAL_PASSWORD_HASH_ALGORITHM",
            "TIGERSEAL_PBKDF2_ITERATIONS",
            "TIGERSEAL_PASSWORD_PEPPER_FILE",
            "TIGERSEAL_JWT_ALGORITHM",
            "TIGERSEAL_JWT_ACCESS_TOKEN_EXPIRE",
            "TIGERSEAL_JWT_REFRESH_TOKEN_EXPIRE",
            "TIGERSEAL_JWT_ISSUER",
            "TIGERSEAL_JWT_AUDIENCE",
            "TIGERSEAL_JWT_LEEWAY",
            "TIGERSEAL_JWT_KEYS_FILE",
            "TIGERSEAL_JWT_SIGNER",
            "TIGERSEAL_REVOCATION_STORE",
            "TIGERSEAL_API_KEY_PREFIX",
        ),
    ),
    ("Rate limiting", ("TIGERSEAL_DEFAULT_RATE_LIMIT_HOUR", "TIGERSEAL_RATE_LIMIT_STORAGE",
                       "TIGERSEAL_RATE_LIMIT_ALGORITHM", "TIGERSEAL_SINGLE_PROCESS")),
)  # fmt: skip


def env_template_text(environment: str = "development", *, placeholders: bool = True) -> str:
    """The commented ``.env`` template, with placeholders or (``placeholders=False``) fresh secrets.

    Raises:
        ConfigError: ``environment`` is not development, test, staging or production.
    """
    env = _ENVIRONMENTS.get(environment.strip().lower())
    if env is None:
        raise ConfigError("environment must be one of development, test, staging, production")
    from tigerseal.config._settings import Settings

    fields = {str(f.validation_alias): (name, f) for name, f in Settings.model_fields.items()}
    fresh = {
        "TIGERSEAL_ENVIRONMENT": env,
        "TIGERSEAL_ENCRYPTION_MASTER_KEY": secrets.token_hex(32),
        "TIGERSEAL_JWT_SECRET": secrets.token_urlsafe(48),
    }
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = [f"# tigerseal configuration template, generated {now}."]
    if placeholders:
        fresh.update(_PLACEHOLDERS)
        out += [
            "# Replace the <...> placeholders with secrets (or run `tigerseal env-template",
            "# --generate .env` for fresh ones). Commented lines show defaults.",
        ]
    else:
        out += [
            "# It holds freshly generated secrets: keep it out of version control, and copy it",
            "# to .env (or your secrets manager). Commented lines show defaults.",
        ]
    out += [
        "# tigerseal reads a dotenv file only when told: TIGERSEAL_ENV_FILE=.env,",
        "# Settings(_env_file=...), or the CLI's --env-file (default ./.env).",
    ]
    listed: set[str] = set()
    sections = [*_TEMPLATE_SECTIONS, ("Everything else", tuple(fields))]
    for title, names in sections:
        block: list[str] = []
        for alias in names:
            if alias in listed or alias not in fields:
                continue
            listed.add(alias)
            _, info = fields[alias]
            block.append(f"# {info.description}")
            if alias in fresh:
                block.append(f"{alias}={fresh[alias]}")
            elif alias == "TIGERSEAL_DATABASE_URL":
                block.append(f"# {alias}=postgresql://USER:PASSWORD@localhost:5432/tiger_mcp")
            else:
                default = info.default
                shown = (
                    ""
                    if default is None
                    else str(default).lower()
                    if isinstance(default, bool)
                    else str(default)
                )
                block.append(f"# {alias}={shown}")
        if block:
            out += ["", f"# -- {title} " + "-" * max(3, 76 - len(title)), *block]
    return "\n".join(out) + "\n"
