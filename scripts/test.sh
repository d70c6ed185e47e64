#!/usr/bin/env bash
# Set up with the test tools, lint, then run the whole test suite (benchmarks are separate:
# see tests/benchmarks/README.md). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export QT_QPA_PLATFORM=offscreen
echo "== ruff" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== pytest" >&2
exec .venv/bin/python -m pytest "$@"
