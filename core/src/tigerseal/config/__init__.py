"""tigerseal's settings, read from its own ``TIGERSEAL_`` variables, and the views built on them.

**Names.** Every setting is ``TIGERSEAL_<NAME>`` (``TIGERSEAL_KEY_PROVIDERS``,
``TIGERSEAL_ENCRYPTION_MASTER_KEY``, ``TIGERSEAL_JWT_SECRET``, ``TIGERSEAL_ENVIRONMENT`` ...).
The seed's names (``ENCRYPTION_MASTER_KEY``, ``JWT_SECRET``, ``ENVIRONMENT``, ``DATABASE_URL``,
``PBKDF2_ITERATIONS`` ...) keep working as fallbacks, read only when the ``TIGERSEAL_`` one is
unset: the ``TIGERSEAL_`` name always wins.

**A host application's variables never stop a call that does not need them.** A bad value in a
``TIGERSEAL_`` variable is an error when the settings are built. A bad value in a seed-named
fallback (a host's ``DATABASE_URL`` or ``JWT_SECRET`` that means something else) is set aside:
only the calls that need that setting raise (``get_database_config()``, the token manager),
naming the variable and saying to set the ``TIGERSEAL_`` one. ``TIGERSEAL_ENVIRONMENT`` is
strict; an ``ENVIRONMENT`` value tigerseal does not know (``uat``, ``qa``) means an unknown
deployment, so ``staging`` rules apply (``production`` for a near miss such as ``prodution``).

**Files.** No dotenv file is read implicitly (not even ``./.env``): name one with
``TIGERSEAL_ENV_FILE`` or ``Settings(_env_file=...)``. The ``tigerseal`` command reads
``./.env`` by default (``--env-file``, ``--no-env-file``).

**Explicit settings.** Every function that reads the process-wide settings also takes
``settings=`` (``get_encryption_service(settings=...)``, ``get_token_manager``,
``get_password_context``, ``get_rate_limiter``, ``get_auditor``, ``get_security_service`` ...):
it then builds a new object from those settings, outside the process-wide defaults.

Every value is validated, and a mistake is a :class:`~tigerseal.errors.ConfigError` whose
message names the variable and the fix (never its value). In production tigerseal also refuses
keys that are missing (it never generates keys there), copied from examples, marked as
development keys, or visibly not random.

Views for the seed's API: :func:`get_security_config` (a :class:`SecurityConfig`),
:func:`get_database_config` (a :class:`DatabaseConfig` whose password never shows in repr, str
or logs), :func:`configure_logging` (text or structured JSON logs, with redaction) and
:func:`generate_env_template` (a commented ``.env`` with fresh secrets, mode 0600).
"""

# The modules of this package, by concern: _settings (the Settings model and the process-wide
# instance), _constants (shared constants and pure checks), _providers (key-provider selection),
# _env (where each setting is read from: the one resolution rule, no pydantic),
# _security (the seed's SecurityConfig view), _database (DATABASE_URL), _logging (redacting
# formatters), _template (the .env template). Names are imported on first access so that the
# envelope path (select_key_providers) does not import pydantic.

from __future__ import annotations

from typing import TYPE_CHECKING

from tigerseal._lazy import lazy_exports

if TYPE_CHECKING:
    from tigerseal._weakness import jwt_secret_weakness, master_key_weakness
    from tigerseal.config._constants import (
        DEFAULT_PBKDF2_ITERATIONS,
        JWT_ALGORITHMS,
        MIN_PBKDF2_ITERATIONS,
        SSL_MODES,
    )
    from tigerseal.config._database import (
        ConnectionString,
        DatabaseConfig,
        get_database_config,
        redact_url,
    )
    from tigerseal.config._env import (
        ENV_FILE_VARIABLE,
        SEED_NAMES,
        KeySettings,
        configured_env_file,
        read_env_file,
        variable_names,
    )
    from tigerseal.config._logging import (
        JsonFormatter,
        RedactingFormatter,
        configure_logging,
        redact_text,
        redact_value,
    )
    from tigerseal.config._providers import (
        FAKE_PROVIDER_REFUSED,
        SOURCE_DEV_KEYRING,
        SOURCE_EXPLICIT,
        SOURCE_MASTER_KEY,
        KeyProviderSelection,
        current_environment,
        key_settings,
        looks_like_deployment,
        select_key_providers,
    )
    from tigerseal.config._security import (
        SecurityConfig,
        check_per_process_store,
        get_security_config,
    )
    from tigerseal.config._settings import (
        Settings,
        get_settings,
        reset_settings,
    )
    from tigerseal.config._template import (
        generate_env_template,
    )

_EXPORTS: dict[str, str] = {
    "jwt_secret_weakness": "tigerseal._weakness",
    "master_key_weakness": "tigerseal._weakness",
    "DEFAULT_PBKDF2_ITERATIONS": "tigerseal.config._constants",
    "JWT_ALGORITHMS": "tigerseal.config._constants",
    "MIN_PBKDF2_ITERATIONS": "tigerseal.config._constants",
    "SSL_MODES": "tigerseal.config._constants",
    "Settings": "tigerseal.config._settings",
    "get_settings": "tigerseal.config._settings",
    "reset_settings": "tigerseal.config._settings",
    "FAKE_PROVIDER_REFUSED": "tigerseal.config._providers",
    "SOURCE_DEV_KEYRING": "tigerseal.config._providers",
    "SOURCE_EXPLICIT": "tigerseal.config._providers",
    "SOURCE_MASTER_KEY": "tigerseal.config._providers",
    "KeyProviderSelection": "tigerseal.config._providers",
    "current_environment": "tigerseal.config._providers",
    "key_settings": "tigerseal.config._providers",
    "ENV_FILE_VARIABLE": "tigerseal.config._env",
    "configured_env_file": "tigerseal.config._env",
    "read_env_file": "tigerseal.config._env",
    "SEED_NAMES": "tigerseal.config._env",
    "KeySettings": "tigerseal.config._env",
    "variable_names": "tigerseal.config._env",
    "looks_like_deployment": "tigerseal.config._providers",
    "select_key_providers": "tigerseal.config._providers",
    "SecurityConfig": "tigerseal.config._security",
    "check_per_process_store": "tigerseal.config._security",
    "get_security_config": "tigerseal.config._security",
    "ConnectionString": "tigerseal.config._database",
    "DatabaseConfig": "tigerseal.config._database",
    "get_database_config": "tigerseal.config._database",
    "redact_url": "tigerseal.config._database",
    "JsonFormatter": "tigerseal.config._logging",
    "RedactingFormatter": "tigerseal.config._logging",
    "configure_logging": "tigerseal.config._logging",
    "redact_text": "tigerseal.config._logging",
    "redact_value": "tigerseal.config._logging",
    "generate_env_template": "tigerseal.config._template",
}

__all__ = [
    "DEFAULT_PBKDF2_ITERATIONS",
    "ENV_FILE_VARIABLE",
    "FAKE_PROVIDER_REFUSED",
    "JWT_ALGORITHMS",
    "MIN_PBKDF2_ITERATIONS",
    "SEED_NAMES",
    "SOURCE_DEV_KEYRING",
    "SOURCE_EXPLICIT",
    "SOURCE_MASTER_KEY",
    "SSL_MODES",
    "ConnectionString",
    "DatabaseConfig",
    "JsonFormatter",
    "KeyProviderSelection",
    "KeySettings",
    "RedactingFormatter",
    "SecurityConfig",
    "Settings",
    "check_per_process_store",
    "configure_logging",
    "configured_env_file",
    "current_environment",
    "generate_env_template",
    "get_database_config",
    "get_security_config",
    "get_settings",
    "jwt_secret_weakness",
    "key_settings",
    "looks_like_deployment",
    "master_key_weakness",
    "read_env_file",
    "redact_text",
    "redact_url",
    "redact_value",
    "reset_settings",
    "select_key_providers",
    "variable_names",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
