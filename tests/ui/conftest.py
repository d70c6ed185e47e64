"""Fixtures for widget tests: a Process panel on real services."""

from __future__ import annotations

import pytest

from fibuca_desktop.core.settings import Settings
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
