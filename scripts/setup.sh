#!/usr/bin/env bash
# Set up Fibuca Desktop in ./.venv: Python packages, then the default model (u2netp, verified by md5).
# Idempotent and quick when nothing changed. Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--test" ]] && extras="[test]"

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Fibuca Desktop needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
    exit 2
fi

if [[ ! -x .venv/bin/python ]]; then
    echo "== creating .venv" >&2
    "$python" -m venv .venv
fi

stamp=".venv/.fibuca-installed${extras}"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "== installing fibuca-desktop${extras} into .venv" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
    echo "$want" > "$stamp"
fi

echo "== default model" >&2
.venv/bin/fibuca-desktop models fetch u2netp >&2
