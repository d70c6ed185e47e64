"""Fixtures for widget tests: a Process panel on real services, a Monitor panel on its hub."""

from __future__ import annotations

import pytest

from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.monitor.monitor_hub import MonitorHub
from fibuca_desktop.ui.monitor.monitor_panel import MonitorPanel
from fibuca_desktop.ui.monitor.notifier import StateNotifier
from fibuca_desktop.ui.process.process_panel import ProcessPanel, ProcessService


@pytest.fixture
def panel_factory(qtbot, u2netp_path):
    panels = []

    def make(settings: Settings | None = None) -> ProcessPanel:
        settings = settings or Settings()
        panel = ProcessPanel(ProcessService(settings), settings)
        qtbot.addWidget(panel)
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()


@pytest.fixture
def make_panel(qtbot):
    """Monitor panels, shown (1000 x 600) and shut down after the test."""
    panels: list[MonitorPanel] = []

    def make(settings: Settings | None = None, interval_s: float = 0.25, hub=None):
        settings = settings or Settings()
        hub = hub or MonitorHub(interval_s)
        panel = MonitorPanel(hub, settings, StateNotifier())
        qtbot.addWidget(panel)
        panel.resize(1000, 600)
        panel.show()
        qtbot.waitExposed(panel)
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()
