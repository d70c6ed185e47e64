#!/usr/bin/env bash
# Set up Fibuca Desktop in ./.venv: Python packages, then the default model (u2netp, verified by md5).
# Idempotent and quick when nothing changed. Usage: scripts/setup.sh [--test] [--gui]
#   --test  also the test tools (pytest, ruff, rembg for the comparisons)
#   --gui   also check that Qt's window system plugin can load (the system libraries it needs)
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
gui=0
for arg in "$@"; do
    case "$arg" in
        --test) extras="[test]" ;;
        --gui) gui=1 ;;
        *) echo "usage: scripts/setup.sh [--test] [--gui]" >&2; exit 2 ;;
    esac
done

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Fibuca Desktop needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
    exit 2
fi

if [[ ! -x .venv/bin/python ]]; then
    echo "== creating .venv" >&2
    "$python" -m venv .venv
fi

# One stamp for every kind of install: "<hash of pyproject.toml> <extras>". An install with the
# test tools also serves a plain run, so run.sh after test.sh installs nothing again.
stamp=".venv/.fibuca-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [[ "$have" != "$want $extras" && ( -n "$extras" || "$have" != "$want [test]" ) ]]; then
    echo "== installing fibuca-desktop${extras} into .venv" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
    echo "$want $extras" > "$stamp"
fi

if (( gui )) && [[ "$(uname -s)" == Linux && "${QT_QPA_PLATFORM:-}" != offscreen ]]; then
    status=0
    packages="$(.venv/bin/python scripts/check_qt_platform.py --packages)" || status=$?
    if (( status == 3 )); then
        if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
            echo "== installing the libraries Qt's window needs: $packages" >&2
            # shellcheck disable=SC2086  # one word per package
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
        else
            echo "Qt cannot open a window here: system libraries are missing. Install them with:" >&2
            echo "    sudo apt-get install $packages" >&2
            echo "(or run headless with QT_QPA_PLATFORM=offscreen)" >&2
            exit 3
        fi
    fi
fi

echo "== default model" >&2
.venv/bin/fibuca-desktop models fetch u2netp >&2
