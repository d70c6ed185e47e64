"""The core stays headless and the default path stays lean (STYLE.md, issue: Engine)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import fibuca_desktop

PACKAGE = Path(fibuca_desktop.__file__).parent
GUI_MODULES = {"PySide6", "pyqtgraph", "shiboken6"}
# The cluster extra (issue 16) is imported only when a broker is used.
CLUSTER_MODULES = ("celery", "kombu", "redis", "billiard", "amqp", "vine")
HEAVY_MODULES = (
    *("rembg", "numba", "scipy", "skimage", "pymatting", "PySide6", "pyqtgraph", "onnx"),
    *CLUSTER_MODULES,
)


def _imported_roots(path: Path) -> set[str]:
    return {module.split(".")[0] for module in _imported_modules(path)}


def test_core_never_imports_qt():
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(_imported_roots(path) & GUI_MODULES)
        for path in (PACKAGE / "core").rglob("*.py")
        if _imported_roots(path) & GUI_MODULES
    }
    assert offenders == {}


def test_scan_would_catch_a_qt_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from PySide6.QtCore import QTimer\n")
    assert _imported_roots(bad) & GUI_MODULES == {"PySide6"}


def test_default_processing_path_imports_nothing_heavy(tmp_path, u2netp_path):
    """Process a real photo in a fresh interpreter, then list the heavy modules it loaded."""
    photo = Path(__file__).parents[1] / "fixtures" / "photos" / "car-1.jpg"
    code = f"""
import json, sys
from fibuca_desktop.__main__ import main
code = main(["process", {str(photo)!r}, "-o", {str(tmp_path / "out")!r}, "--json"])
heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]
print("HEAVY=" + json.dumps(heavy), file=sys.stderr)
sys.exit(code)
"""
    first = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stderr.rsplit("HEAVY=", 1)[1]) in ([], ["onnx"])  # cold graph cache
    (tmp_path / "out" / "car-1.png").unlink()
    warm = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert warm.returncode == 0, warm.stderr
    assert json.loads(warm.stderr.rsplit("HEAVY=", 1)[1]) == []
    assert (tmp_path / "out" / "car-1.png").is_file()


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_core_never_imports_the_cluster():
    """cluster/ imports core/, never the other way (STYLE.md)."""
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            m for m in _imported_modules(path) if m.startswith("fibuca_desktop.cluster")
        )
        for path in (PACKAGE / "core").rglob("*.py")
        if any(m.startswith("fibuca_desktop.cluster") for m in _imported_modules(path))
    }
    assert offenders == {}


_CLUSTER_IMPORTS = f"""
import json, sys
from fibuca_desktop.__main__ import build_parser, main
import fibuca_desktop.app  # the GUI's entry
for argv in (["worker", "--help"], ["cluster", "status", "--help"], ["process", "--help"]):
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        pass
if sys.argv[1:]:
    main(sys.argv[1:])
print("CLUSTER=" + json.dumps([m for m in {CLUSTER_MODULES!r} if m in sys.modules]))
"""


def test_celery_is_not_imported_unless_a_broker_is_used(tmp_path):
    """The entry, the GUI module and every cluster command's parser load no Celery, kombu or
    redis-py; using a broker does (so the check looks at the right names)."""
    lean = subprocess.run(
        [sys.executable, "-c", _CLUSTER_IMPORTS], capture_output=True, text=True, timeout=120
    )
    assert lean.returncode == 0, lean.stderr
    assert json.loads(lean.stdout.rsplit("CLUSTER=", 1)[1]) == []

    closed = "redis://127.0.0.1:9/0"  # the discard port: refused at once
    used = subprocess.run(
        [sys.executable, "-c", _CLUSTER_IMPORTS, "cluster", "status", "--broker", closed],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Cannot reach the broker" in used.stderr
    assert {"celery", "kombu", "redis"} <= set(json.loads(used.stdout.rsplit("CLUSTER=", 1)[1]))


def test_layers_point_one_way():
    """cli/ never imports ui/ (it asks the entry, app.py), and ui/ never imports app.py."""
    rules = {"cli": "fibuca_desktop.ui", "ui": "fibuca_desktop.app"}
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            m for m in _imported_modules(path) if m == banned or m.startswith(banned + ".")
        )
        for folder, banned in rules.items()
        for path in (PACKAGE / folder).rglob("*.py")
        if any(m == banned or m.startswith(banned + ".") for m in _imported_modules(path))
    }
    assert offenders == {}
