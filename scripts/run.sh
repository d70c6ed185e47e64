#!/usr/bin/env bash
# Quick start: set everything up (venv, packages, default model), then launch Fibuca Desktop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --gui
exec .venv/bin/fibuca-desktop "$@"
