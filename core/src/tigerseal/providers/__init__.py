"""Built-in key providers: ``env://`` and ``file://``.

``env://`` reads keys from environment variables, ``file://`` from a versioned keyring file.
Both are plugins registered through the same hook as external ones; build them with
:func:`tigerseal.plugins.key_provider_from_uri`.

The local wrap they share (AES-256-GCM-SIV, the context bound as AAD) is in
:mod:`tigerseal.providers._local`.
"""
