#!/usr/bin/env bash
# Run every benchmark, one after the other (they compare against their anchors in the same run;
# running them in parallel on a 2-core machine would only measure contention).
#
#   bash benchmarks/run.sh            # full sizes (about 15-25 minutes)
#   bash benchmarks/run.sh --quick    # smaller sizes, a few minutes
#   bash benchmarks/run.sh --quick envelope redis   # only some
#
# Installs the benchmark dependency group (ESDK, Tink, limits) first. Results go to
# benchmarks/results/<name>.json; docs/performance.md quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
if [ "${1:-}" = "--quick" ]; then quick=(--quick); shift; fi
python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install -q uv
python3 -m uv sync --locked --all-packages --group bench --compile-bytecode --quiet
python3 -m compileall -q core/src providers plugins >/dev/null || true
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in benchmarks/bench_*.py; do n=$(basename "$f" .py); names+=("${n#bench_}"); done
fi
for n in "${names[@]}"; do
    echo "== $n"
    python3 -m uv run --locked --no-sync python "benchmarks/bench_$n.py" "${quick[@]}"
done
