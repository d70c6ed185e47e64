"""The Over-fetching page's "Measure real bytes" on real clusters: on PostgreSQL 17 it asks for
the placeholders' values, measures off the GUI thread and shows the bytes next to the
estimate; on PostgreSQL 15 the button is disabled and its tooltip says why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.database.database_panel import DatabasePanel
from fibuca_desktop.ui.database.overfetch_widget import BYTES
from tests.ui.test_database_panel import WAIT_MS, connect

SCREENSHOT = os.environ.get("FIBUCA_TEST_SCREENSHOT")  # set to a .png path to look at the page


@pytest.fixture
def panel(qtbot):
    """A shown Database panel, shut down after the test (its pools and session closed)."""
    panel = DatabasePanel(Settings())
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    yield panel
    panel.shutdown()


def open_overfetch(qtbot, panel, url: str):
    connect(qtbot, panel, url)
    page = panel.overfetch
    panel.tabs.setCurrentWidget(page)
    qtbot.waitUntil(lambda: page.loaded, timeout=WAIT_MS)
    return page


def test_measure_on_17_asks_for_the_values_and_shows_bytes_next_to_the_estimate(
    qtbot, panel, shop17_url, monkeypatch
):
    page = open_overfetch(qtbot, panel, shop17_url)
    assert page.table.rowCount() == 1 and page.selected() is not None
    button = page.measure_button
    assert button.isEnabled() and "EXPLAIN (ANALYZE, SERIALIZE)" in button.toolTip()
    asked = []

    def ask(query: str, count: int) -> list[str] | None:
        asked.append(count)
        return None if len(asked) == 1 else ["20", "0"]  # cancelled first, then given

    monkeypatch.setattr(page, "ask_parameters", ask)
    button.click()
    assert asked == [2] and page.measured.text() == "" and button.isEnabled()
    with qtbot.waitSignal(panel.bridge.delivered, timeout=WAIT_MS, check_params_cb=_is_serialize):
        button.click()
        assert not button.isEnabled() and page.measured.text().startswith("Measuring")
    text = page.measured.text()
    assert text.startswith("Measured 71.0 kB sent for 20 rows ($1 = 20, $2 = 0)")
    assert f"estimated {page.table.item(0, BYTES).text()} per call (20 rows)" in text
    assert button.isEnabled()
    if SCREENSHOT:
        assert page.grab().save(str(Path(SCREENSHOT)))
    monkeypatch.setattr(page, "ask_parameters", lambda query, count: ["20"])
    with qtbot.waitSignal(panel.bridge.delivered, timeout=WAIT_MS, check_params_cb=_is_serialize):
        button.click()
    assert page.measured.text().startswith("Not measured: This statement needs 2 parameter")
    assert panel.connected and "needs 2" not in panel.connect_bar.status_label.text()


def _is_serialize(kind: str) -> bool:
    return kind == "serialize"


def test_the_button_is_disabled_on_15_with_the_reason(qtbot, panel, shop_url):
    page = open_overfetch(qtbot, panel, shop_url)
    assert page.selected() is not None and not page.measure_button.isEnabled()
    tip = page.measure_button.toolTip()
    assert "needs PostgreSQL 17 or later" in tip and "this server is 15." in tip
    assert page.measured.text() == tip  # said next to the button as well, without hovering
    if SCREENSHOT:
        assert page.grab().save(str(Path(SCREENSHOT).with_suffix(".pg15.png")))


@pytest.mark.parametrize("count", [0, 3])
def test_the_parameters_dialog_has_one_field_per_placeholder(qtbot, count):
    from fibuca_desktop.ui.database.parameters_dialog import ParametersDialog

    dialog = ParametersDialog("SELECT 1", count)
    qtbot.addWidget(dialog)
    for number, field in enumerate(dialog.fields, 1):
        field.setText(f"v{number}")
    assert dialog.values() == [f"v{n}" for n in range(1, count + 1)]
