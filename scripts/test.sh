#!/usr/bin/env bash
# Install everything the whole test suite needs, then run it.
#
# Works on a fresh Debian/Ubuntu machine with python3 + pip: installs SoftHSM2, Redis and
# PostgreSQL from apt when missing (as root, or through sudo), uv from PyPI, the locked
# workspace, and runs pytest. The tests start their own servers (moto_server, OpenBao, Redis,
# PostgreSQL) on 127.0.0.1 and stop them by PID. Before pytest it runs scripts/check.sh (ruff,
# mypy --strict, mkdocs --strict). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "test.sh: installing ${missing[*]} from apt" >&2
    $sudo apt-get update -qq
    # policy-rc.d 101: do not start the packaged services; the tests run their own.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod +x /usr/sbin/policy-rc.d
        trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install -q --disable-pip-version-check uv
python3 -m uv sync --locked --all-packages --compile-bytecode --quiet
# ruff, mypy --strict and the API reference build first: fast, and any finding fails the run.
# TIGERSEAL_SKIP_CHECKS=1 skips them (e.g. re-running one test file).
if [ "${TIGERSEAL_SKIP_CHECKS:-0}" != "1" ]; then
    bash scripts/check.sh
fi
exec python3 -m uv run --locked --all-packages --no-sync pytest "$@"
