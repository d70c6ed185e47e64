"""Add target: quiet until something is entered, and suggested names never clash (issue 10, 18)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from fibuca_desktop.core.monitor.targets import (
    HEALTH,
    LOCAL,
    MAX_NAME,
    METRICS,
    THIS_COMPUTER,
    MonitorTarget,
    suggest_name,
)
from fibuca_desktop.ui.monitor.target_dialog import AddTargetDialog


def make_dialog(qtbot, taken: set[str], kind: str = HEALTH) -> AddTargetDialog:
    dialog = AddTargetDialog(set(taken))
    qtbot.addWidget(dialog)
    dialog.kind.setCurrentIndex(dialog.kind.findData(kind))
    return dialog


def ok_button(dialog: AddTargetDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


@pytest.mark.parametrize("kind", [HEALTH, METRICS, LOCAL])
def test_no_error_before_anything_is_entered(qtbot, kind):
    dialog = make_dialog(qtbot, {THIS_COMPUTER}, kind)
    dialog.show()
    assert dialog.error.text() == ""
    if kind != LOCAL:
        assert not ok_button(dialog).isEnabled()  # still nothing to add
        qtbot.keyClicks(dialog.url, "ftp://x")  # but once something is typed, it says why
        assert "not an http:// or https://" in dialog.error.text()
        dialog.url.clear()
        assert dialog.error.text() == ""


TAKEN_SETS = [
    {THIS_COMPUTER, "127.0.0.1"},
    {THIS_COMPUTER, "127.0.0.1", "127.0.0.1:3000"},
    {THIS_COMPUTER, "127.0.0.1", "127.0.0.1:3000", "127.0.0.1:3000/health"},
    {"127.0.0.1", "127.0.0.1:3000", "127.0.0.1:3000/health", "127.0.0.1:3000/health (2)"},
]


@pytest.mark.parametrize("taken", TAKEN_SETS)
@pytest.mark.parametrize("kind", [HEALTH, METRICS])
def test_a_suggested_address_name_never_clashes(qtbot, taken, kind):
    dialog = make_dialog(qtbot, taken, kind)
    qtbot.keyClicks(dialog.url, "http://127.0.0.1:3000/health")
    assert dialog.name.text() and dialog.name.text() not in taken
    assert dialog.error.text() == "" and ok_button(dialog).isEnabled()
    assert dialog.target().name == dialog.name.text()


@pytest.mark.parametrize(
    ("process", "taken"),
    [
        ("", {THIS_COMPUTER, "This app"}),
        ("node", {"node", "node (2)"}),
        ("4242", {"PID 4242"}),
    ],
)
def test_a_suggested_process_name_never_clashes(qtbot, process, taken):
    dialog = make_dialog(qtbot, taken, LOCAL)
    qtbot.keyClicks(dialog.process, process)
    assert dialog.name.text() and dialog.name.text() not in taken
    assert ok_button(dialog).isEnabled()


def test_a_typed_name_is_kept_and_a_clash_is_said(qtbot):
    dialog = make_dialog(qtbot, {"api"})
    qtbot.keyClicks(dialog.name, "api")
    qtbot.keyClicks(dialog.url, "http://127.0.0.1:3000/health")
    assert dialog.name.text() == "api"  # typed by the person: never replaced
    assert "already watched" in dialog.error.text() and not ok_button(dialog).isEnabled()


def test_editing_levels_keeps_the_targets_own_name(qtbot):
    target = MonitorTarget("prod", HEALTH, url="http://10.0.0.5:8080/health")
    dialog = AddTargetDialog({"prod", "10.0.0.5"}, editing=target)
    qtbot.addWidget(dialog)
    assert dialog.name.text() == "prod" and dialog.error.text() == ""
    assert ok_button(dialog).isEnabled()


def test_suggest_name_stays_within_the_length_limit():
    long_host = "h" * 70 + ".example.com"
    target = MonitorTarget("", HEALTH, url=f"http://{long_host}:8080/health")
    taken = {long_host[:MAX_NAME]}
    for _ in range(5):
        name = suggest_name(target, taken)
        assert name not in taken and 0 < len(name) <= MAX_NAME
        taken.add(name)


@pytest.mark.parametrize("process", ["²", "٣", "99999999999999999999999", "-1", "0", "node js"])
def test_odd_process_entries_are_refused_or_named_never_a_crash(qtbot, process):
    dialog = make_dialog(qtbot, {THIS_COMPUTER}, LOCAL)
    dialog.process.setText(process)  # pasted: QTest cannot type every character offscreen
    if ok_button(dialog).isEnabled():
        assert dialog.target().name == dialog.name.text() != ""
    else:
        assert dialog.error.text()


@pytest.mark.parametrize(
    ("typed", "ok"),
    [
        ("http://[::1]:3000/health", True),  # every prefix of it is typed: "http://[", "[::1"...
        ("https://[fe80::1]/metrics", True),
        ("http://127.0.0.1:99999/health", False),
        ("http://127.0.0.1:3o00/health", False),
        ("http://]/health", False),
    ],
)
def test_an_address_typed_key_by_key_is_judged_in_words_never_an_exception(qtbot, typed, ok):
    dialog = make_dialog(qtbot, {THIS_COMPUTER}, HEALTH)
    dialog.show()
    qtbot.keyClicks(dialog.url, typed)  # pytest-qt fails the test on an exception in a slot
    assert ok_button(dialog).isEnabled() == ok
    if not ok:
        assert "address" in dialog.error.text().lower(), dialog.error.text()
