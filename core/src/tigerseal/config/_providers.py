"""Which key providers are configured: the one rule (:func:`select_key_providers`).

Also what counts as a deployment (:func:`looks_like_deployment`): no development keyring and no
in-memory ``fake://`` provider there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tigerseal.config._env import KEY_SETTINGS, SETTINGS, KeySettings
from tigerseal.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from tigerseal.config._settings import Settings

__all__ = [
    "FAKE_PROVIDER_REFUSED",
    "SOURCE_DEV_KEYRING",
    "SOURCE_EXPLICIT",
    "SOURCE_MASTER_KEY",
    "KeyProviderSelection",
    "current_environment",
    "key_settings",
    "looks_like_deployment",
    "select_key_providers",
]


# -- which key providers are configured -------------------------------------------------------
#: ``KeyProviderSelection.source`` values.
SOURCE_EXPLICIT = "TIGERSEAL_KEY_PROVIDERS"
SOURCE_MASTER_KEY = "ENCRYPTION_MASTER_KEY"
SOURCE_DEV_KEYRING = "development keyring"


@dataclass(frozen=True, slots=True)
class KeyProviderSelection:
    """Which key providers the settings select, and why.

    Attributes:
        uris: key URIs in order (the first one generates data keys).
        source: ``"TIGERSEAL_KEY_PROVIDERS"``, ``"ENCRYPTION_MASTER_KEY"`` or
            ``"development keyring"``.
        dev_keyring: the development keyring's absolute path when that is the selection.
    """

    uris: tuple[str, ...]
    source: str
    dev_keyring: Path | None = None


def current_environment() -> str:
    """The normalised environment (``development``, ``test``, ``staging``, ``production``).

    ``TIGERSEAL_ENVIRONMENT``, else the seed's ``ENVIRONMENT`` (the rule of
    :func:`tigerseal.config._env.environment_from`: an unknown value there means ``staging``),
    else ``development``. Read without building the settings; an invalid
    ``TIGERSEAL_ENVIRONMENT`` counts as ``production`` here (a typo must not relax a check;
    building the settings reports it).
    """
    built = SETTINGS.peek()
    if built is not None:
        return built.environment
    try:
        return KEY_SETTINGS.get().environment
    except ConfigError:
        return "production"


def key_settings() -> Settings | KeySettings:
    """The settings the default key-provider selection reads.

    The process-wide :class:`~tigerseal.config.Settings` when built (or needed: production,
    a data-key cache setting), else the lighter :class:`~tigerseal.config._env.KeySettings`
    read by the same rule, so that a process that only encrypts does not import pydantic.
    """
    built = SETTINGS.peek()
    if built is not None:
        return built
    light = KEY_SETTINGS.get()
    if light.sufficient:
        return light
    return SETTINGS.get()


#: The normalised environments that look like a deployment: no development keyring, no fake://.
_DEPLOYMENTS = frozenset({"staging", "production"})


def looks_like_deployment(environment: str | None = None) -> bool:
    """Whether ``environment`` (default: :func:`current_environment`) looks like a deployment.

    The one rule for what tigerseal never does outside a developer's machine or a test run:
    fall back to the development keyring, or accept the in-memory ``fake://`` provider (its
    keys vanish at exit). ``staging`` counts: data written there must survive a redeploy too.

    Args:
        environment: a normalised ``ENVIRONMENT`` value (``Settings.environment``).
    """
    return (current_environment() if environment is None else environment) in _DEPLOYMENTS


#: Said whenever fake:// is refused (select_key_providers and tigerseal.testing.fake.from_uri).
FAKE_PROVIDER_REFUSED = (
    "the fake:// test provider keeps keys in memory and loses them at exit: never use it in "
    "production or staging; configure env://, file:// or a KMS, Vault or HSM key"
)


def select_key_providers(settings: Settings | KeySettings | None = None) -> KeyProviderSelection:
    """Decide which key providers are configured: the one rule every caller uses.

    ``TIGERSEAL_KEY_PROVIDERS`` if set; else ``env://VARIABLE`` for the variable holding the
    master key (``TIGERSEAL_ENCRYPTION_MASTER_KEY``, else the seed's ``ENCRYPTION_MASTER_KEY``)
    if one is set; else the development keyring file (``TIGERSEAL_KEYRING_PATH``), but only
    where the environment does not look like a deployment. The default service,
    ``tigerseal doctor``, ``tigerseal rotate`` and the production settings check all call this
    function. It writes nothing (the default service creates the development keyring on first
    use).

    Args:
        settings: the settings to read; default the process-wide ones (:func:`key_settings`).

    Raises:
        ConfigError: nothing is configured and the development keyring is refused
            (:func:`looks_like_deployment`, or ``TIGERSEAL_ALLOW_DEV_KEYRING=false``); the
            in-memory ``fake://`` test provider is configured where it looks like a deployment;
            or the master key variable is malformed.
    """
    s = key_settings() if settings is None else settings
    explicit = tuple(s.key_providers.split())
    if explicit:
        if looks_like_deployment(s.environment):
            fakes = [u for u in explicit if u.partition(":")[0].strip().lower() == "fake"]
            if fakes:
                raise ConfigError(
                    f"TIGERSEAL_KEY_PROVIDERS names fake:// with ENVIRONMENT={s.environment}: "
                    + FAKE_PROVIDER_REFUSED
                )
        return KeyProviderSelection(explicit, SOURCE_EXPLICIT)
    s.require("encryption_master_key")  # a malformed key is an error, never "no key"
    if s.encryption_master_key is not None:
        name = s.variable_for("encryption_master_key")
        return KeyProviderSelection((f"env://{name}",), name)
    how = (
        "set TIGERSEAL_ENCRYPTION_MASTER_KEY (or the seed's ENCRYPTION_MASTER_KEY) to 64 fresh "
        "hex characters (`tigerseal keygen --print`), or TIGERSEAL_KEY_PROVIDERS to a KMS, "
        "Vault or HSM key (e.g. aws-kms://alias/app) or a keyring file "
        "(file:///etc/tigerseal/keyring.json)"
    )
    if looks_like_deployment(s.environment):
        raise ConfigError(
            f"ENCRYPTION_MASTER_KEY is required in {s.environment} (no encryption key is "
            f"configured): {how}; tigerseal never creates keys in a deployment (a generated "
            "keyring would be lost at the next deploy, and every message with it)"
        )
    if not s.allow_dev_keyring:
        raise ConfigError(
            "no encryption key is configured, and TIGERSEAL_ALLOW_DEV_KEYRING=false refuses "
            f"the development keyring: {how}"
        )
    from pathlib import Path  # only here: pathlib is not on the cold env:// path

    path = Path(s.keyring_path).expanduser().resolve()
    return KeyProviderSelection((f"file://{path}",), SOURCE_DEV_KEYRING, path)
