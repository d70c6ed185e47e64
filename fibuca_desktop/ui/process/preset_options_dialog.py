"""Override a preset's options (size, format, quality, background, margin) for the next batches."""

from __future__ import annotations

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
from fibuca_desktop.core.imaging.presets import FORMATS, get_preset
from fibuca_desktop.core.settings import ProcessingSettings

PRESET_DEFAULT = "preset default"
# The core words its messages for the command line; the dialog names its own fields instead.
_FIELD_NAMES = {
    "--max-side": "Longest side",
    "--format": "Format",
    "--quality": "Quality",
    "--margin": "Margin",
    "--bg": "Background",
}


class PresetOptionsDialog(QDialog):
    """Edits the overrides in ``processing``; OK validates them with the core, as the CLI does."""

    def __init__(self, processing: ProcessingSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("presetOptionsDialog")
        self.processing = processing
        preset = get_preset(processing.preset)
        self.setWindowTitle(f"Options for the {preset.name} preset")
        self.max_side = QSpinBox()
        self.max_side.setRange(0, 20000)
        self.max_side.setSpecialValueText(PRESET_DEFAULT)  # 0 = the preset's own size
        self.max_side.setSuffix(" px")
        self.max_side.setValue(processing.max_side or 0)
        self.format = QComboBox()
        self.format.addItem(PRESET_DEFAULT, None)
        for name in FORMATS:
            self.format.addItem(name, name)
        self.format.setCurrentIndex(max(0, self.format.findData(processing.format)))
        self.quality = QSpinBox()
        self.quality.setRange(0, 100)
        self.quality.setSpecialValueText(PRESET_DEFAULT)
        self.quality.setValue(processing.quality or 0)
        self.background = QLineEdit(processing.background or "")
        self.background.setPlaceholderText(f"{PRESET_DEFAULT}: transparent, white, #f4f4f4…")
        self.margin = QDoubleSpinBox()
        self.margin.setRange(-0.01, 0.49)
        self.margin.setSingleStep(0.01)
        self.margin.setSpecialValueText(PRESET_DEFAULT)
        self.margin.setValue(processing.margin if processing.margin is not None else -0.01)
        form = QFormLayout()
        form.addRow("Longest side (square: canvas)", self.max_side)
        form.addRow("Format", self.format)
        form.addRow("Quality (JPEG, WebP)", self.quality)
        form.addRow("Background", self.background)
        form.addRow("Margin (square)", self.margin)
        self.error = QLabel()
        self.error.setObjectName("optionsError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b3261e;")
        self.error.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            self.restore_defaults
        )
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(preset.description[:1].upper() + preset.description[1:]))
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def values(self) -> dict:
        """The overrides as the settings store them; None means the preset's own value."""
        return {
            "max_side": self.max_side.value() or None,
            "format": self.format.currentData(),
            "quality": self.quality.value() or None,
            "background": self.background.text().strip() or None,
            "margin": self.margin.value() if self.margin.value() >= 0 else None,
        }

    def restore_defaults(self) -> None:
        self.max_side.setValue(0)
        self.format.setCurrentIndex(0)
        self.quality.setValue(0)
        self.background.clear()
        self.margin.setValue(-0.01)

    def accept(self) -> None:
        values = self.values()
        try:
            get_preset(self.processing.preset).with_options(**values)
        except UsageError as error:
            message = str(error)
            for flag, field in _FIELD_NAMES.items():
                message = message.replace(flag, field)
            self.error.setText(message)
            self.error.show()
            return
        for name, value in values.items():
            setattr(self.processing, name, value)
        super().accept()
