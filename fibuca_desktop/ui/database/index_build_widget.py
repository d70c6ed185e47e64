"""One index build at a time: live progress, Cancel, and the clean-up of a failed build.

The build runs on the panel's small build pool (``IndexBuilder.run`` blocks for as long as the
build takes); its progress callback only emits a signal. A failed or cancelled build leaves an
INVALID index: the widget never leaves it silently, it asks whether to drop it (and retry).
"""

from __future__ import annotations

import concurrent.futures
import logging
from concurrent.futures import Executor
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.errors import FibucaError, IndexBuildFailed
from fibuca_desktop.ui.database.task_bridge import TaskBridge

if TYPE_CHECKING:
    from fibuca_desktop.core.database.index_build import (
        BuildProgress,
        BuildResult,
        IndexBuilder,
        IndexPlan,
    )

log = logging.getLogger(__name__)

BAR_MAX = 1000
DROP_AND_RETRY, DROP_ONLY, KEEP = "Drop and retry", "Drop only", "Keep it"


def phase_text(reading: BuildProgress) -> str:
    text = reading.phase
    if reading.blocks_total:
        text += f" · blocks {reading.blocks_done:,}/{reading.blocks_total:,}"
    if reading.tuples_total:
        text += f" · tuples {reading.tuples_done:,}/{reading.tuples_total:,}"
    return text


class BuildSignals(QObject):
    reading = Signal(object)  # BuildProgress, emitted from the build thread


class IndexBuildWidget(QWidget):
    busy_changed = Signal(bool)
    finished = Signal(object)  # BuildResult, or the exception that ended the build
    measure_requested = Signal(str)  # the name of the index built last

    def __init__(self, executor: Executor, bridge: TaskBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self._executor, self._bridge = executor, bridge
        self._builder: IndexBuilder | None = None
        self._plan: IndexPlan | None = None
        self._future: concurrent.futures.Future | None = None
        self.phases_seen: list[str] = []
        self.signals = BuildSignals(self)
        self.signals.reading.connect(self._on_reading)
        self.progress = QProgressBar()
        self.progress.setRange(0, BAR_MAX)
        self.progress.setValue(0)
        self.phase_label = QLabel("No index build running.")
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel build")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.measure_button = QPushButton("Measure now")
        self.measure_button.setToolTip(
            "Compare the statements' time and blocks per call since the build with before "
            "(pg_stat_statements, kept just before the build), and the index's own scans"
        )
        self.measure_button.hide()
        self.measure_button.clicked.connect(self._measure)
        self.effect_label = QLabel()
        self.effect_label.setObjectName("indexEffect")
        self.effect_label.setWordWrap(True)
        self.effect_label.hide()
        self._built: str | None = None
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.measure_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.phase_label)
        layout.addLayout(row)
        layout.addWidget(self.result_label)
        layout.addWidget(self.effect_label)

    @property
    def building(self) -> bool:
        return self._future is not None and not self._future.done()

    def start(self, builder: IndexBuilder, plan: IndexPlan) -> None:
        """Run ``plan`` (already confirmed by the person) on the build pool."""
        self._builder, self._plan = builder, plan
        self.phases_seen = []
        self.progress.setValue(0)
        self.phase_label.setText(f"Building {plan.name}: starting…")
        self.result_label.setText("")
        self.result_label.setStyleSheet("")
        self.effect_label.hide()
        self.measure_button.hide()
        self.cancel_button.setEnabled(True)
        self._future = self._executor.submit(builder.run, plan, self.signals.reading.emit)
        self._bridge.watch("build", self._future, self._on_built, self._on_failed)
        self.busy_changed.emit(True)

    def cancel(self) -> None:
        if self._builder is not None and self.building:
            self.cancel_button.setEnabled(False)
            self.phase_label.setText(f"{self.phase_label.text()} · cancelling…")
            future = self._executor.submit(self._builder.cancel)  # the 2nd build-pool thread
            self._bridge.watch("cancel", future, lambda _sent: None, self._show_error)

    def _on_reading(self, reading: BuildProgress) -> None:
        if not self.building:
            return  # a last reading queued behind the result
        if not self.phases_seen or self.phases_seen[-1] != reading.phase:
            self.phases_seen.append(reading.phase)
        self.progress.setValue(round(reading.fraction * BAR_MAX))
        self.phase_label.setText(f"Building {self._plan.name}: {phase_text(reading)}")

    def _on_built(self, result: BuildResult) -> None:
        self._stopped()
        self.progress.setValue(BAR_MAX)
        self.phase_label.setText(f"Built {result.index} in {result.seconds:.1f} s.")
        text = f"{result.index} is {'valid' if result.valid else 'NOT valid'}."
        if result.cost_before is not None and result.cost_after is not None:
            text += f" Plan cost {result.cost_before:,.2f} → {result.cost_after:,.2f}"
            if result.cost_before > 0:
                text += f" ({1 - result.cost_after / result.cost_before:.0%} less)"
            text += "."
        self.result_label.setText(text)
        self._built = result.index
        self.measure_button.setVisible(result.valid)
        self.measure_button.setEnabled(True)
        self.finished.emit(result)

    def _measure(self) -> None:
        if self._built is not None:
            self.measure_button.setEnabled(False)
            self.effect_label.setStyleSheet("")
            self.effect_label.setText(f"Measuring {self._built}…")
            self.effect_label.show()
            self.measure_requested.emit(self._built)

    def show_effect(self, effect) -> None:
        """The measured effect (``IndexEffect``): the verdict, then each statement's change."""
        self.measure_button.setEnabled(True)
        lines = [effect.summary]
        for statement in effect.statements:
            change = f": {statement.change}" if statement.calls_after and statement.change else ""
            query = " ".join(statement.query.split())
            query = query if len(query) <= 90 else query[:89] + "…"
            lines.append(
                f"· {statement.verdict} ({statement.calls_after} calls since){change} — {query}"
            )
        if effect.note:
            lines.append(f"Note: {effect.note}")
        self.effect_label.setStyleSheet("")
        self.effect_label.setText("\n".join(lines))
        self.effect_label.show()

    def show_effect_error(self, error: BaseException) -> None:
        self.measure_button.setEnabled(True)
        self.effect_label.setStyleSheet("color: #b00020;")
        self.effect_label.setText(f"Could not measure: {error}")
        self.effect_label.show()

    def _on_failed(self, error: BaseException) -> None:
        self._stopped()
        self._show_error(error)
        self.finished.emit(error)
        if isinstance(error, IndexBuildFailed) and error.invalid_index:
            self._offer_clean_up(error)

    def _offer_clean_up(self, error: IndexBuildFailed) -> None:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Index build failed")
        box.setText(str(error))
        box.setInformativeText(
            f"The INVALID index {error.invalid_index} is updated on every write but never used. "
            "Drop it now (DROP INDEX CONCURRENTLY)?"
        )
        buttons = {
            name: box.addButton(name, role)
            for name, role in (
                (DROP_AND_RETRY, QMessageBox.ButtonRole.AcceptRole),
                (DROP_ONLY, QMessageBox.ButtonRole.DestructiveRole),
                (KEEP, QMessageBox.ButtonRole.RejectRole),
            )
        }
        box.setDefaultButton(buttons[DROP_AND_RETRY])
        box.exec()
        choice = next((n for n, b in buttons.items() if b is box.clickedButton()), KEEP)
        if choice == KEEP:
            self.result_label.setText(
                f"{self.result_label.text()} The INVALID index {error.invalid_index} was kept; "
                "drop it before building again (listed under INVALID after Run advisor)."
            )
            return
        builder, plan = self._builder, self._plan
        self.phase_label.setText(f"Dropping the INVALID index {error.invalid_index}…")
        future = self._executor.submit(builder.drop_invalid, error.invalid_index)

        def dropped(statement: str) -> None:
            self.phase_label.setText(f"Dropped: {statement}")
            if choice == DROP_AND_RETRY:
                self.start(builder, plan)

        self._bridge.watch("drop", future, dropped, self._show_error)

    def _show_error(self, error: BaseException) -> None:
        if not isinstance(error, FibucaError):
            log.error("index build failed unexpectedly", exc_info=error)
        self.result_label.setStyleSheet("color: #b00020;")
        self.result_label.setText(str(error))

    def _stopped(self) -> None:
        self.cancel_button.setEnabled(False)
        self.busy_changed.emit(False)

    def stop_for_exit(self, timeout_s: float = 60.0) -> str | None:
        """At exit, with a build running: cancel it, wait, and drop the INVALID index it left.
        Blocks (the window is closing) and never raises: what happened goes to the log, with the
        statement to run by hand when the drop itself failed."""
        if not self.building or self._builder is None:
            return None
        builder, future = self._builder, self._future
        try:
            builder.cancel()
            future.result(timeout_s)
            return "the build finished before it could be cancelled"
        except IndexBuildFailed as error:
            if not error.invalid_index:
                return "cancelled; it left nothing behind"
            try:
                builder.drop_invalid(error.invalid_index)
            except Exception as drop_error:
                return (
                    f"cancelled, but the INVALID index {error.invalid_index} could not be "
                    f"dropped ({_first_line(drop_error)}); drop it with DROP INDEX CONCURRENTLY"
                )
            return f"cancelled; dropped the INVALID index {error.invalid_index}"
        except Exception as error:
            return f"could not stop cleanly: {_first_line(error)}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
