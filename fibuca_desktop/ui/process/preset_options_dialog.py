"""The chosen preset's own options (size, format, quality, background, margin, edges) for next
batches.

Only the fields that change this preset's output are shown, each with the preset's own value as
its default ("800 px (preset default)"). A combination that cannot be written is refused while it
is typed: the reason is shown under the fields and OK is disabled, so none is ever stored.
The File name template (every preset's, as ``--name``) is checked the same way, and the name it
gives an example photo with these options is shown under it.
"""

from __future__ import annotations

import re

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.name_template import FIELDS, optional_template
from fibuca_desktop.core.imaging.output_naming import EXAMPLE_PHOTO, example_name
from fibuca_desktop.core.imaging.presets import DEFAULT_PRESET, EDGES, PRESETS, WHITE, Preset
from fibuca_desktop.core.settings import PresetOptions, ProcessingSettings

PRESET_DEFAULT = "preset default"
_NO_SIDE, _NO_QUALITY, _NO_MARGIN = 15, 0, -0.01  # the spin boxes' "preset default" values
# The core words its messages for the command line; the dialog names its own fields instead.
_REWORDS = (
    (re.compile(r"use --format ([a-z]+(?: or [a-z]+)?)"), r"choose \1 as the Format"),
    (re.compile(r"with --bg \(for example --bg ([^)]+)\)"), r"as the Background (for example \1)"),
    (re.compile(r"--max-side (\d+) or less"), r"a side of \1 px or less"),
    (re.compile(r"^--max-side "), "Side "),
    (re.compile(r"^--format "), "Format "),
    (re.compile(r"^--quality "), "Quality "),
    (re.compile(r"^--bg "), "Background "),
    (re.compile(r"^--margin "), "Margin "),
)
EDGE_NAMES = {"refined": "Refined", "rembg": "As rembg"}
EDGES_TIP = (
    "Refined: follows the full-resolution photo's edges and estimates\n"
    "their true colours, so no backdrop colour shows along the edge.\n"
    "As rembg: rembg's own edges, exactly as before."
)


def _side_text(preset: Preset) -> str:
    side = preset.canvas or preset.max_side
    return f"{side} px" if side else "original size"


def _colour_text(preset: Preset) -> str:
    if preset.background is None:
        return "transparent"
    return (
        "white"
        if preset.background == WHITE
        else "#" + "".join(f"{c:02x}" for c in preset.background)
    )


class PresetOptionsDialog(QDialog):
    """Edits ``processing``'s options for its chosen preset, and only for that preset."""

    def __init__(self, processing: ProcessingSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("presetOptionsDialog")
        self.processing = processing
        self.preset = preset = PRESETS.get(processing.preset) or PRESETS[DEFAULT_PRESET]
        stored = processing.options_for(preset.name)
        self.setWindowTitle(f"Options for the {preset.name} preset")
        self.setMinimumWidth(420)

        self.max_side = QSpinBox()
        self.max_side.setRange(_NO_SIDE, 20000)
        self.max_side.setSpecialValueText(f"{_side_text(preset)} ({PRESET_DEFAULT})")
        self.max_side.setSuffix(" px")
        self.max_side.setValue(stored.max_side or _NO_SIDE)
        self.format = QComboBox()
        self.format.addItem(f"{preset.format} ({PRESET_DEFAULT})", None)
        for name in preset.formats:
            self.format.addItem(name, name)
        self.format.setCurrentIndex(max(0, self.format.findData(stored.format)))
        self.quality = QSpinBox()
        self.quality.setRange(_NO_QUALITY, 100)
        self.quality.setSpecialValueText(f"{preset.quality} ({PRESET_DEFAULT})")
        self.quality.setValue(stored.quality or _NO_QUALITY)
        self.background = QLineEdit(stored.background or "")
        self.background.setPlaceholderText(f"{_colour_text(preset)} ({PRESET_DEFAULT})")
        self.background.setToolTip("transparent, a colour name such as white, or #rrggbb")
        self.margin = QDoubleSpinBox()
        self.margin.setRange(_NO_MARGIN, 0.49)
        self.margin.setSingleStep(0.01)
        self.margin.setSpecialValueText(f"{preset.margin:g} ({PRESET_DEFAULT})")
        self.margin.setValue(stored.margin if stored.margin is not None else _NO_MARGIN)
        self.edges = QComboBox()
        self.edges.addItem(f"{EDGE_NAMES[preset.edges]} ({PRESET_DEFAULT})", None)
        for name in EDGES:
            if name != preset.edges:
                self.edges.addItem(EDGE_NAMES[name], name)
        edges = stored.edges.strip().lower() if stored.edges else None  # as a file may spell it
        self.edges.setCurrentIndex(max(0, self.edges.findData(edges)))
        self.edges.setToolTip(EDGES_TIP)
        self.name_template = QLineEdit(processing.name_template)
        self.name_template.setObjectName("nameTemplate")
        self.name_template.setPlaceholderText("{stem} (the photo's own name)")
        self.name_template.setToolTip(
            "For every preset. Fields: "
            + " ".join(f"{{{name}}}" for name in FIELDS)
            + "; {n:03} pads the number. The extension follows the format; a name taken "
            "already gets -2, -3."
        )
        self.example = ""  # the example photo's output name, set by problem()
        self.name_preview = QLabel()
        self.name_preview.setObjectName("namePreview")

        self.form = QFormLayout()
        self.form.addRow("Canvas side" if preset.canvas else "Longest side", self.max_side)
        self.form.addRow("Format", self.format)
        self.form.addRow("Quality", self.quality)
        self.form.addRow("Background", self.background)
        self.form.addRow("Margin (of the side)", self.margin)
        self.form.addRow("Edges", self.edges)
        self.form.addRow("File name", self.name_template)
        self.form.addRow("", self.name_preview)
        self._fields = {
            "max_side": self.max_side,
            "format": self.format,
            "quality": self.quality,
            "background": self.background,
            "margin": self.margin,
            "edges": self.edges,
        }
        self.error = QLabel()
        self.error.setObjectName("optionsError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b3261e;")
        self.error.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            self.restore_defaults
        )
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(preset.description[:1].upper() + preset.description[1:]))
        layout.addLayout(self.form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

        for box in (self.max_side, self.quality, self.margin):
            box.valueChanged.connect(self._update)
        for combo in (self.format, self.edges):
            combo.currentIndexChanged.connect(self._update)
        self.background.textChanged.connect(self._update)
        self.name_template.textChanged.connect(self._update)
        self._update()

    def applicable(self) -> tuple[str, ...]:
        """The fields shown: those that change this preset's output in the chosen format."""
        return self.preset.applicable_options(self.format.currentData())

    def values(self) -> dict:
        """The options as the settings store them; None means the preset's own value (and every
        field that does not apply, hidden, is None)."""
        shown = self.applicable()
        values = {
            "max_side": self.max_side.value() if self.max_side.value() != _NO_SIDE else None,
            "format": self.format.currentData(),
            "quality": self.quality.value() or None,
            "background": self.background.text().strip() or None,
            "margin": self.margin.value() if self.margin.value() >= 0 else None,
            "edges": self.edges.currentData(),
        }
        return {name: value if name in shown else None for name, value in values.items()}

    def problem(self) -> str | None:
        """Why these values cannot be written, in this dialog's words; None when they can."""
        try:
            preset = self.preset.with_options(**self.values())
        except UsageError as error:
            message = str(error)
            for pattern, words in _REWORDS:
                message = pattern.sub(words, message)
            return message[:1].upper() + message[1:]
        try:
            self.example = example_name(self._template(), preset, self.processing.naming_profile)
        except UsageError as error:
            return str(error).removeprefix(f"{EXAMPLE_PHOTO}: ")
        return None

    def _template(self):
        return optional_template(self.name_template.text())

    def restore_defaults(self) -> None:
        self.max_side.setValue(_NO_SIDE)
        self.format.setCurrentIndex(0)
        self.quality.setValue(_NO_QUALITY)
        self.background.clear()
        self.margin.setValue(_NO_MARGIN)
        self.edges.setCurrentIndex(0)

    def _update(self) -> None:
        shown = self.applicable()
        for name, widget in self._fields.items():
            self.form.setRowVisible(widget, name in shown)
        problem = self.problem()
        self.name_preview.setText("" if problem else f"{EXAMPLE_PHOTO} -> {self.example}")
        self.error.setText(problem or "")
        self.error.setVisible(problem is not None)
        self.ok_button.setEnabled(problem is None)
        self.ok_button.setToolTip(problem or "")

    def accept(self) -> None:
        self._update()
        if self.problem() is not None:
            return  # OK is disabled; Enter in a field still lands here
        self.processing.set_options(self.preset.name, PresetOptions(**self.values()))
        self.processing.name_template = self.name_template.text()
        super().accept()
