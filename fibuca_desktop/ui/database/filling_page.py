"""Tab pages that scroll instead of raising the main window's minimum height."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget


class FillingPageWidget(QWidget):
    """A tab page in a scroll area that fills the viewport and scrolls only below its minimum
    size. Wrapping labels give the layout a height-for-width, and QScrollArea would then size
    the page to its preferred height and scroll at ordinary window sizes."""

    def __init__(self, page: QWidget) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(page)

    def heightForWidth(self, _width: int) -> int:
        return -1  # no preference: the viewport's height, never less than the minimum


def scrolled(page: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(FillingPageWidget(page))
    return area
