"""The editor's widgets and layout, built onto the dialog (the ``setupUi`` idiom), and the one
place that sets what they show from the dialog's state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
)

from fibuca_desktop.ui.process.editor.canvas import BRUSH, FILL
from fibuca_desktop.ui.process.editor.display import VIEW_MODES
from fibuca_desktop.ui.process.editor.mask_edits import FILL_TOLERANCE, KEEP, REMOVE

if TYPE_CHECKING:
    from fibuca_desktop.ui.process.editor.editor_dialog import EditorDialog


def _tool_button(text: str, tip: str, checkable: bool = True) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    return button


def _separator() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.VLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line


def build_editor(dialog: EditorDialog) -> None:
    """Create the dialog's widgets as its attributes, connect them, lay them out."""
    d = dialog
    d.brush_button = _tool_button("Brush", "Paint with the brush (B: keep, E: remove)")
    d.fill_button = _tool_button("Fill", "Click a region to keep or remove it whole (G)")
    d.keep_button = _tool_button("Keep", "Paint back what belongs to the product (B; X swaps)")
    d.remove_button = _tool_button("Remove", "Paint away what is not the product (E; X swaps)")
    for group_buttons in ((d.brush_button, d.fill_button), (d.keep_button, d.remove_button)):
        group = QButtonGroup(d)
        group.setExclusive(True)
        for button in group_buttons:
            group.addButton(button)
    d.brush_button.clicked.connect(lambda: d.set_tool(BRUSH))
    d.fill_button.clicked.connect(lambda: d.set_tool(FILL))
    d.keep_button.clicked.connect(lambda: d.set_tool(d.canvas.tool, KEEP))
    d.remove_button.clicked.connect(lambda: d.set_tool(d.canvas.tool, REMOVE))
    d.size_box = QSpinBox()
    d.size_box.setRange(1, 4000)
    d.size_box.setSuffix(" px")
    d.size_box.setToolTip("Brush size in the photo's pixels ([ smaller, ] larger)")
    d.size_box.valueChanged.connect(lambda value: d.set_brush_size(value))
    d.hardness_slider = QSlider(Qt.Orientation.Horizontal)
    d.hardness_slider.setRange(0, 100)
    d.hardness_slider.setFixedWidth(90)
    d.hardness_slider.setToolTip("Hardness: how much of the brush paints at full strength")
    d.hardness_slider.valueChanged.connect(lambda value: setattr(d.canvas, "hardness", value / 100))
    d.hardness_slider.setValue(round(d.canvas.hardness * 100))
    d.edge_box = QCheckBox("Edge-aware")
    d.edge_box.setToolTip(
        "The brush only changes what looks like the colour under its centre, and follows the "
        "photo's edges: run it along a product's outline"
    )
    d.edge_box.toggled.connect(lambda on: setattr(d.canvas, "edge_aware", on))
    d.tolerance = QSpinBox()
    d.tolerance.setRange(1, 255)
    d.tolerance.setValue(round(FILL_TOLERANCE))
    d.tolerance.setPrefix("Fill tolerance ")
    d.tolerance.setToolTip("How different a colour may be and still join the filled region")
    d.view_combo = QComboBox()
    for mode, label in VIEW_MODES.items():
        d.view_combo.addItem(label, mode)
    d.view_combo.activated.connect(lambda index: d.choose_view(d.view_combo.itemData(index)))
    d.undo_button = QPushButton("Undo")
    d.undo_button.clicked.connect(d.undo)
    d.redo_button = QPushButton("Redo")
    d.redo_button.clicked.connect(d.redo)
    d.revert_button = QPushButton("Revert to model")
    d.revert_button.setToolTip("Bring back the model's mask (Undo brings your edits back)")
    d.revert_button.clicked.connect(d.revert_to_model)
    d.fit_button = QPushButton("Fit")
    d.fit_button.setToolTip("Fit the photo in the window (Ctrl+0)")
    d.fit_button.clicked.connect(d.canvas.fit)
    d.actual_button = QPushButton("100%")
    d.actual_button.setToolTip("One photo pixel per screen pixel (Ctrl+1)")
    d.actual_button.clicked.connect(d.canvas.actual_size)

    tools = QHBoxLayout()
    for widget in (
        d.brush_button,
        d.fill_button,
        _separator(),
        d.keep_button,
        d.remove_button,
        _separator(),
        QLabel("Size"),
        d.size_box,
        QLabel("Hardness"),
        d.hardness_slider,
        d.edge_box,
        d.tolerance,
        _separator(),
        d.view_combo,
    ):
        tools.addWidget(widget)
    tools.addStretch(1)
    history = QHBoxLayout()
    for widget in (
        d.undo_button,
        d.redo_button,
        d.revert_button,
        _separator(),
        d.fit_button,
        d.actual_button,
    ):
        history.addWidget(widget)
    history.addStretch(1)

    d.status_label = QLabel()
    d.status_label.setObjectName("editorStatus")
    d.check_label = QLabel()
    d.check_label.setObjectName("editorCheck")
    d.check_label.setStyleSheet("color: #7a5b00;")
    d.check_label.setWordWrap(True)
    d.previous_button = QPushButton("◀ Previous")
    d.previous_button.setToolTip("The flagged photo before this one")
    d.previous_button.clicked.connect(lambda: d.step(-1))
    d.next_button = QPushButton("Next ▶")
    d.next_button.setToolTip("The next photo flagged for a look")
    d.next_button.clicked.connect(lambda: d.step(1))
    d.save_button = QPushButton("Save")
    d.save_button.setToolTip("Keep the edit and write this photo's output again (Ctrl+S)")
    d.save_button.setDefault(True)
    d.save_button.clicked.connect(d.save)
    d.close_button = QPushButton("Close")
    d.close_button.clicked.connect(d.reject)
    bottom = QHBoxLayout()
    texts = QVBoxLayout()
    texts.addWidget(d.status_label)
    texts.addWidget(d.check_label)
    bottom.addLayout(texts, 1)
    for button in (d.previous_button, d.next_button, d.save_button, d.close_button):
        bottom.addWidget(button)

    layout = QVBoxLayout(d)
    layout.addLayout(tools)
    layout.addLayout(history)
    layout.addWidget(d.canvas, 1)
    layout.addLayout(bottom)


def update_editor(dialog: EditorDialog) -> None:
    """Set every control from the dialog's state: the one place that does."""
    d, canvas = dialog, dialog.canvas
    ready = d.ready
    d.brush_button.setChecked(canvas.tool == BRUSH)
    d.fill_button.setChecked(canvas.tool == FILL)
    d.keep_button.setChecked(canvas.brush_mode == KEEP)
    d.remove_button.setChecked(canvas.brush_mode == REMOVE)
    d.size_box.blockSignals(True)
    d.size_box.setValue(max(1, round(canvas.radius * 2)))
    d.size_box.blockSignals(False)
    d.view_combo.setCurrentIndex(max(0, d.view_combo.findData(canvas.mode)))
    for widget in (
        d.brush_button,
        d.fill_button,
        d.keep_button,
        d.remove_button,
        d.size_box,
        d.hardness_slider,
        d.edge_box,
        d.tolerance,
        d.revert_button,
        d.fit_button,
        d.actual_button,
        d.canvas,
    ):
        widget.setEnabled(ready)
    d.undo_button.setEnabled(ready and bool(d.state.undo))
    d.undo_button.setToolTip(f"Undo {d.state.undo} (Ctrl+Z)" if d.state.undo else "Nothing to undo")
    d.redo_button.setEnabled(ready and bool(d.state.redo))
    d.redo_button.setToolTip(
        f"Redo {d.state.redo} (Ctrl+Shift+Z)" if d.state.redo else "Nothing to redo"
    )
    d.save_button.setEnabled(ready)
    target = d.target
    d.previous_button.setEnabled(target is not None and d.neighbour(target, -1) is not None)
    d.next_button.setEnabled(target is not None and d.neighbour(target, 1) is not None)
    d.status_label.setText(_status(d))
    reasons = target.review if target is not None else ()
    d.check_label.setText("Check: " + "; ".join(reasons) if reasons else "")
    d.check_label.setVisible(bool(reasons))


def _status(d: EditorDialog) -> str:
    if d.busy_text:
        return d.busy_text
    parts = []
    if d.session is not None:
        width, height = d.session.size
        parts.append(f"{width} x {height}")
        parts.append(f"{d.canvas.scale:.0%}")
        if d.state.dirty:
            parts.append("unsaved changes")
        elif d.state.edited:
            parts.append("edited")
        else:
            parts.append("the model's mask")
    if d.message:
        parts.append(d.message)
    return "  ·  ".join(parts)
