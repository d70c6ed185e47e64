#!/usr/bin/env bash
# Build the packaged app (dist/fibuca-desktop/, one folder) from a clean venv with fibuca.spec, run
# its self-test offline (no network, empty U2NET_HOME, a fresh HOME: no ~/.u2net, no cache), time
# its start-up, and fail when a budget is exceeded (README, "Packaged app").
# Usage: bash scripts/build.sh   (PYTHON=/path/to/python3.11 to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."

BUDGET_BUILD_S=300      # clean venv + pyinstaller, on the 2-core CI machine
BUDGET_BUNDLE_MB=250    # du -sm dist/fibuca-desktop
BUDGET_START_MS=2000    # frozen app: process start to window shown (worst of 3 runs)
BUDGET_SELF_TEST_S=10   # frozen self-test, wall clock

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "The build needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
    exit 2
fi
now() { date +%s.%N; }
seconds() { "$python" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$2"; }

started=$(now)
echo "== clean venv build/venv: runtime dependencies and pyinstaller, no test tools" >&2
rm -rf build dist/fibuca-desktop
"$python" -m venv build/venv
build/venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
build/venv/bin/python -m pip install --quiet --disable-pip-version-check ".[build]"
venv_done=$(now)

echo "== default model (the spec bundles it after checking its md5)" >&2
build/venv/bin/fibuca-desktop models fetch u2netp >&2

echo "== pyinstaller fibuca.spec" >&2
build/venv/bin/pyinstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller fibuca.spec
built=$(now)
app=dist/fibuca-desktop/fibuca-desktop

# The frozen app runs as on a fresh staff computer: nothing from this machine's environment.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/home" "$scratch/u2net"
fresh=(env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$scratch/home" U2NET_HOME="$scratch/u2net"
    QT_QPA_PLATFORM=offscreen)
if unshare --net true 2>/dev/null; then
    offline=(unshare --net)
    network="unreachable (unshare --net: a network namespace with no interfaces)"
else
    offline=()
    network="REACHABLE: unshare --net is not available here (it needs root or user namespaces)"
    echo "WARNING: the self-test runs with the network reachable; it proves less" >&2
fi

echo "== frozen self-test, network $network" >&2
test_started=$(now)
status=0
"${fresh[@]}" "${offline[@]}" "$app" self-test > build/self-test.json || status=$?
test_done=$(now)
if [[ $status -ne 0 ]]; then
    cat build/self-test.json >&2
    echo "FAILED: the frozen self-test exited with $status (report above)" >&2
    exit 1
fi
if [[ -n "$(ls -A "$scratch/u2net")" ]]; then
    echo "FAILED: the frozen app wrote into U2NET_HOME: $(ls -A "$scratch/u2net")" >&2
    exit 1
fi

# The built-in export profiles are data shipped beside the code: the bundle must carry them.
if ! "${fresh[@]}" "${offline[@]}" "$app" profiles show amazon >/dev/null; then
    echo "FAILED: the frozen app cannot read its built-in export profiles" >&2
    exit 1
fi

echo "== frozen start to window, 3 runs" >&2
starts=()
for _ in 1 2 3; do
    log=$("${fresh[@]}" "${offline[@]}" "$app" -v --no-crash-dialog --quit-after 200 \
        --settings-file "$scratch/settings.json" 2>&1) || { echo "$log" >&2; exit 1; }
    shown=$(sed -n 's/.*window shown \([0-9]*\) ms after the process started.*/\1/p' <<<"$log")
    [[ -n "$shown" ]] || { echo "$log" >&2; echo "FAILED: no 'window shown' line" >&2; exit 1; }
    starts+=("$shown")
done

build_s=$(seconds "$started" "$built")
venv_s=$(seconds "$started" "$venv_done")
pyinstaller_s=$(seconds "$venv_done" "$built")
test_s=$(seconds "$test_started" "$test_done")
bundle_mb=$(du -sm dist/fibuca-desktop | cut -f1)
worst_start=$(printf '%s\n' "${starts[@]}" | sort -n | tail -1)

echo
echo "Largest parts of dist/fibuca-desktop (MB):"
# awk, not head: head would leave sort writing into a closed pipe (SIGPIPE under pipefail)
du -sm dist/fibuca-desktop/_internal/* | sort -rn | awk 'NR <= 8' | sed 's|dist/fibuca-desktop/_internal/|  |'
echo
"$python" - build/self-test.json <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
print(f"Frozen self-test: model {report['model']['path']} (md5 verified: "
      f"{report['model']['md5_verified']}), timings {report['timings_ms']} ms")
for check in report["checks"]:
    print(f"  {'pass' if check['passed'] else 'FAIL'}  {check['name']}: {check['detail']}")
print(f"  not in this bundle: {'; '.join(report['optional']['unavailable']) or 'nothing'}")
EOF
echo
failures=()
verdict() {  # name measured limit unit
    if "$python" -c "import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]))" "$2" "$3"; then
        printf '  %-26s %8s %-3s (budget %s %s)  pass\n' "$1" "$2" "$4" "$3" "$4"
    else
        printf '  %-26s %8s %-3s (budget %s %s)  OVER\n' "$1" "$2" "$4" "$3" "$4"
        failures+=("$1")
    fi
}
echo "Budgets (network during the self-test: $network):"
verdict "build (venv + pyinstaller)" "$build_s" "$BUDGET_BUILD_S" s
echo "    venv and install ${venv_s} s, pyinstaller ${pyinstaller_s} s"
verdict "bundle size" "$bundle_mb" "$BUDGET_BUNDLE_MB" MB
verdict "start to window (worst)" "$worst_start" "$BUDGET_START_MS" ms
echo "    runs: ${starts[*]} ms"
verdict "self-test (wall clock)" "$test_s" "$BUDGET_SELF_TEST_S" s
if [[ ${#failures[@]} -gt 0 ]]; then
    echo "FAILED: over budget: ${failures[*]}" >&2
    exit 1
fi
echo "Built dist/fibuca-desktop; run it with $app"
