"""Real services for the integration tests, started as local processes on 127.0.0.1.

One module per service (``moto``, ``vault``, ``softhsm``, ``redis``, ``postgres``), each with a
session fixture that starts the service on first use, waits until it answers, records its PID
and stops it by PID at the end. A missing binary fails the test (``scripts/test.sh`` installs
them); set ``TIGERSEAL_SKIP_MISSING_SERVICES=1`` to skip instead when working offline.
"""
