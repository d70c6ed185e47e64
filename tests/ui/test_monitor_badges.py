"""What the State column shows: every state, live or stale, whole and readable (issue 10, 7).

Rendered offscreen and read back as pixels, as a person would see it: the badge is drawn in
bold, so it must be measured in bold, and a stale state must not look like a live one.
"""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QFont, QFontMetrics

from fibuca_desktop.core.monitor.poller import PollOutcome
from fibuca_desktop.core.monitor.samples import REMOTE_METRICS, Sample
from fibuca_desktop.core.monitor.targets import HEALTH, MonitorTarget
from fibuca_desktop.core.monitor.thresholds import State, Trend
from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.monitor.monitor_panel import MonitorPanel
from fibuca_desktop.ui.monitor.notifier import StateNotifier
from fibuca_desktop.ui.monitor.target_table import STATE, STATE_COLOURS


def outcome(name: str, state: State) -> PollOutcome:
    sample = Sample(1000.0, {"heapUsedMB": 100.0})
    return PollOutcome(name, sample, state, None, None, Trend(0.0, None), REMOTE_METRICS)


@pytest.fixture
def table(qtbot):
    settings = Settings()
    settings.monitor.targets = []
    panel = MonitorPanel(MonitorHub(1.0), settings, StateNotifier())
    qtbot.addWidget(panel)
    stale = set()
    for state in State:
        for is_stale in (False, True):
            name = f"{state.name.lower()}{'-stale' if is_stale else ''}"
            panel.model.add(MonitorTarget(name, HEALTH, url="http://127.0.0.1:9/health"))
            panel.model.update(name, outcome(name, state))
            if is_stale:
                stale.add(name)
    panel.model.set_stale(stale)
    panel.resize(1000, 600)
    panel.show()
    qtbot.waitExposed(panel)
    panel.table.resizeColumnsToContents()
    yield panel.table
    panel.shutdown()


def rows(table):
    model = table.model()
    for row in range(model.rowCount()):
        index = model.index(row, STATE)
        yield row, index, index.data(), model.target_at(row).name.endswith("-stale")


def test_the_state_column_holds_every_badge_in_the_bold_font_it_is_drawn_in(table):
    bold = QFont(table.font())
    bold.setBold(True)
    metrics = QFontMetrics(bold)
    for _, _, text, _ in rows(table):
        # the text, a round end (half the badge's height) each side, a margin each side
        needed = metrics.horizontalAdvance(text) + metrics.height() + 4 + 8
        assert table.columnWidth(STATE) >= needed, text


def _distance(a: QColor, b: QColor) -> int:
    return max(abs(a.red() - b.red()), abs(a.green() - b.green()), abs(a.blue() - b.blue()))


def test_a_stale_badge_is_light_and_keeps_its_state_colour_a_live_one_is_filled(table):
    for _, index, text, stale in rows(table):
        table.scrollTo(index)
        image = table.viewport().grab().toImage()
        rect = table.visualRect(index)
        height = QFontMetrics(table.font()).height() + 4
        y = rect.center().y()
        cap = QColor(image.pixel(rect.left() + 4 + height // 4, y))  # inside the round end
        colour = QColor(STATE_COLOURS[State(text.split(" ")[0])])
        if stale:
            assert cap.lightness() > 200, f"{text}: a filled badge behind dark text"
            line = [QColor(image.pixel(x, y)) for x in range(rect.left(), rect.right())]
            column = [QColor(image.pixel(rect.left() + 5, yy)) for yy in range(rect.top(), y)]
            assert any(_distance(c, colour) < 60 for c in line + column), text
        else:
            assert _distance(cap, colour) < 40, f"{text}: {cap.name()} is not {colour.name()}"
