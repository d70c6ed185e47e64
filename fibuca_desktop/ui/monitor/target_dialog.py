"""Add a target: this computer or a process, a backend's /health, or a Prometheus /metrics."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from fibuca_desktop.core.errors import SettingsError
from fibuca_desktop.core.monitor.targets import (
    HEALTH,
    LOCAL,
    METRICS,
    PM2,
    REMOTE_KINDS,
    MonitorTarget,
    suggest_name,
    url_problem,
)

KIND_LABELS = {
    HEALTH: "Backend /health (JSON)",
    METRICS: "Prometheus /metrics",
    LOCAL: "A process on this computer",
}
_PLACEHOLDERS = {
    HEALTH: "https://api.example.com/health",
    METRICS: "https://api.example.com/metrics",
}


class AddTargetDialog(QDialog):
    """Collects one ``MonitorTarget``; OK stays disabled until it is valid and its name is new.

    Nothing is called wrong before anything is entered; a suggested name (from the address or
    the process) never clashes with a watched target's. A typed token is handed back in
    ``token`` (the caller decides where it may be kept); only the name of an environment
    variable goes into the target itself.
    """

    def __init__(
        self,
        taken_names: set[str],
        parent: QWidget | None = None,
        editing: MonitorTarget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a target to monitor")
        self.setMinimumWidth(460)
        self._taken = taken_names
        self._editing: MonitorTarget | None = None
        self.kind = QComboBox()
        for kind, label in KIND_LABELS.items():
            self.kind.addItem(label, kind)
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. production API")
        self.url = QLineEdit()
        self.process = QLineEdit()
        self.process.setPlaceholderText("PID or process name; empty: this app")
        self.children = QCheckBox("Include child processes")
        self.warning = mb_box(350)
        self.critical = mb_box(450)
        self.token_field = QLineEdit()
        self.token_field.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_field.setPlaceholderText("optional; kept in the OS keyring, never in a file")
        self.token_env = QLineEdit()
        self.token_env.setPlaceholderText("optional, e.g. FIBUCA_MONITOR_TOKEN")
        self.error = QLabel()
        self.error.setObjectName("targetDialogError")
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        self.form = QFormLayout(self)
        self.form.addRow("Kind", self.kind)
        self.form.addRow("Name", self.name)
        self.form.addRow("Address", self.url)
        self.form.addRow("Process", self.process)
        self.form.addRow("", self.children)
        self.form.addRow("Warning at (MB)", self.warning)
        self.form.addRow("Critical at (MB)", self.critical)
        self.form.addRow("Bearer token", self.token_field)
        self.form.addRow("…or from variable", self.token_env)
        self.form.addRow(self.error)
        self.form.addRow(self.buttons)
        for widget in (self.name, self.url, self.process, self.token_env):
            widget.textChanged.connect(self._revalidate)
        for box in (self.warning, self.critical):
            box.valueChanged.connect(self._revalidate)
        self._name_was_suggested = True
        self._pristine = self._form_state()
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.url.textChanged.connect(self._suggest_name)
        self.process.textChanged.connect(self._suggest_name)
        self.name.textEdited.connect(self._name_edited)
        self._kind_changed()
        if editing is not None:
            self._show_for_editing(editing)

    def _form_state(self) -> tuple:
        """What the person has entered, to tell an untouched form from an invalid one."""
        texts = (self.url, self.process, self.token_field, self.token_env)
        return (
            *(w.text().strip() for w in texts),
            self.name.text().strip() if not self._name_was_suggested else "",
            self.warning.value(),
            self.critical.value(),
        )

    def _show_for_editing(self, target: MonitorTarget) -> None:
        """Only the levels of a watched target change; the rest is shown for reference."""
        self.setWindowTitle(f"Levels for {target.name}")
        self._editing = target
        self._taken = self._taken - {target.name}
        if target.kind == PM2:  # added from the PM2 list, not here: shown, not offered
            self.kind.addItem("A PM2 app", PM2)
        self._name_was_suggested = False  # its own name stays, whatever the address says
        self.kind.setCurrentIndex(self.kind.findData(target.kind))
        self.name.setText(target.name)
        self.url.setText(target.url or "")
        process = target.process_name or ("" if target.pid is None else str(target.pid))
        process = target.pm2_app or process
        self.process.setText(process)
        self.children.setChecked(target.include_children)
        self.token_env.setText(target.token_env or "")
        self.warning.setValue(target.warning_mb)
        self.critical.setValue(target.critical_mb)
        for widget in (self.kind, self.name, self.url, self.process, self.children):
            widget.setEnabled(False)
        for widget in (self.token_field, self.token_env):
            self.form.setRowVisible(widget, False)

    @property
    def token(self) -> str | None:
        return self.token_field.text().strip() or None

    def _kind_changed(self) -> None:
        self._suggest_name()
        kind = self.kind.currentData()
        remote = kind in REMOTE_KINDS
        for widget in (self.url, self.token_field, self.token_env):
            self.form.setRowVisible(widget, remote)
        for widget in (self.process, self.children):
            self.form.setRowVisible(widget, not remote)
        self.url.setPlaceholderText(_PLACEHOLDERS.get(kind, ""))
        self._revalidate()

    def _name_edited(self) -> None:
        self._name_was_suggested = not self.name.text()
        if self._name_was_suggested:
            self._suggest_name()

    def _suggest_name(self) -> None:
        if not self._name_was_suggested:
            return
        if self.kind.currentData() != LOCAL and not self.url.text().strip():
            # nothing to name it after yet: leave the field empty, and say nothing is wrong
            self.name.setText("")
            return
        self.name.setText(suggest_name(self._draft(), self._taken))

    def _draft(self) -> MonitorTarget:
        """The fields as a target, unchecked; for a watched one, only its levels change."""
        if self._editing is not None:
            return replace(
                self._editing, warning_mb=self.warning.value(), critical_mb=self.critical.value()
            )
        kind = self.kind.currentData()
        pid, process_name = None, None
        if kind == LOCAL:
            process = self.process.text().strip()
            if process.isascii() and process.isdigit():  # not "²", which int() refuses
                pid = int(process)
            elif process:
                process_name = process
        return MonitorTarget(
            name=self.name.text().strip(),
            kind=kind,
            url=self.url.text().strip() if kind != LOCAL else None,
            pid=pid,
            process_name=process_name,
            include_children=kind == LOCAL and self.children.isChecked(),
            warning_mb=self.warning.value(),
            critical_mb=self.critical.value(),
            token_env=(self.token_env.text().strip() or None) if kind != LOCAL else None,
        )

    def target(self) -> MonitorTarget:
        """The target as entered; raises SettingsError with what is wrong."""
        target = self._draft()
        kind = target.kind
        # The address first: a broken one cannot suggest a name, and is what to fix.
        problem = url_problem(target.url or "") if kind in REMOTE_KINDS else None
        if problem and (target.url or "").strip():
            raise SettingsError(f"Address: {problem}.")
        if not target.name:
            raise SettingsError("Give the target a name.")
        if target.name in self._taken:
            raise SettingsError(f"A target named {target.name!r} is already watched.")
        if problem:
            raise SettingsError(f"Address: {problem}.")
        if target.warning_mb >= target.critical_mb:
            raise SettingsError("The warning level must be below the critical level.")
        target.check("target")
        return target

    def _revalidate(self) -> None:
        try:
            self.target()
        except SettingsError as error:
            message = str(error).removeprefix("target.").removeprefix("target: ")
            untouched = self._form_state() == self._pristine
            self.error.setText("" if untouched else message[:1].upper() + message[1:])
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
            return
        self.error.setText("")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)


def mb_box(value: float) -> QDoubleSpinBox:
    """A level in whole MB (1 MB to 1 TB), as every target dialog asks for it."""
    box = QDoubleSpinBox()
    box.setRange(1, 1_000_000)
    box.setDecimals(0)
    box.setSuffix(" MB")
    box.setValue(value)
    return box
