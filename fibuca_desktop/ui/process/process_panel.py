"""The Process tab: drop photos or folders, pick a preset, watch the queue, get cut-outs."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QThreadPool, QUrl, Signal, Slot
from PySide6.QtGui import (
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.batch import Job, plan_batch
from fibuca_desktop.core.imaging.engine import EngineProvider
from fibuca_desktop.core.imaging.pipeline import PROCESSED, JobResult, Pipeline
from fibuca_desktop.core.imaging.presets import PRESETS
from fibuca_desktop.core.imaging.scheduler import Scheduler, machine_capacity
from fibuca_desktop.core.imaging.thumbnails import THUMBNAIL_SIDE
from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.process.job_runner import (
    JobRunnable,
    JobSignals,
    ThumbnailRunnable,
    ThumbnailSignals,
)
from fibuca_desktop.ui.process.preset_options_dialog import PresetOptionsDialog
from fibuca_desktop.ui.process.preview import CutoutPreviewWidget
from fibuca_desktop.ui.process.queue_model import (
    CANCELLED,
    DONE,
    FAILED,
    FINISHED,
    QUEUED,
    RUNNING,
    SKIPPED,
    ProcessQueueModel,
    QueueItem,
)

log = logging.getLogger(__name__)
_STATUS = {PROCESSED: DONE}  # the core's other statuses (skipped, failed, cancelled) read the same


class ProcessService:
    """Created once per app: the shared model sessions and the named, bounded image pool."""

    def __init__(self, settings: Settings) -> None:
        capacity = machine_capacity(settings.processing.workers)
        self.engines = EngineProvider(
            None, capacity.threads_per_inference, None, capacity.inference_slots
        )
        self.pool = QThreadPool()
        self.pool.setObjectName("fibuca-image-pool")
        self.pool.setMaxThreadCount(capacity.workers)
        # Thumbnails and previews: small, separate, so they never wait behind a 12 MP job.
        self.thumbnail_pool = QThreadPool()
        self.thumbnail_pool.setObjectName("fibuca-preview-pool")
        self.thumbnail_pool.setMaxThreadCount(1)

    def scheduler(self, settings: Settings) -> Scheduler:
        processing = settings.processing
        preset = processing.resolved_preset()
        capacity = machine_capacity(processing.workers, small_outputs=preset.small_output)
        self.pool.setMaxThreadCount(capacity.workers)
        pipeline = Pipeline(self.engines, preset, processing.model, overwrite=processing.overwrite)
        return Scheduler(pipeline, capacity)

    def shutdown(self) -> None:
        """Drop queued runnables and wait for running ones (they stop at a safe point)."""
        for pool in (self.thumbnail_pool, self.pool):
            pool.clear()
            pool.waitForDone()


def default_output_folder(first_input: Path) -> Path:
    """Beside the input, never the input folder itself: ``shoes`` -> ``shoes-cutouts``."""
    if first_input.is_dir():
        return first_input.parent / f"{first_input.name}-cutouts"
    return first_input.parent / "cutouts"


class ProcessPanel(QWidget):
    """Receives its services; all state changes happen on the GUI thread via queued signals."""

    batch_finished = Signal(str)  # a summary such as "5 done, 1 failed"

    def __init__(
        self, service: ProcessService, settings: Settings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("processPanel")
        self.setAcceptDrops(True)
        self.service, self.settings = service, settings
        self.model = ProcessQueueModel()
        self.signals = JobSignals()
        self.signals.started.connect(self._on_started)
        self.signals.finished.connect(self._on_finished)
        self.thumbnail_signals = ThumbnailSignals()
        self.thumbnail_signals.ready.connect(self.model.set_thumbnail)
        QShortcut(QKeySequence.StandardKey.Paste, self, activated=self.paste_from_clipboard)
        self.output_folder: Path | None = (
            Path(settings.processing.output_dir) if settings.processing.output_dir else None
        )
        self._scheduler: Scheduler | None = None
        self._cancel = threading.Event()
        self._batch: set[int] = set()
        self._runnables: dict[int, JobRunnable] = {}
        self._batch_started = 0.0
        self._build()
        self._refresh()

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        self.add_files_button = QPushButton("Add files…")
        self.add_files_button.clicked.connect(self.choose_files)
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.preset_combo = QComboBox()
        for name, preset in PRESETS.items():
            self.preset_combo.addItem(name, name)
            self.preset_combo.setItemData(
                self.preset_combo.count() - 1, preset.description, Qt.ItemDataRole.ToolTipRole
            )
        self.preset_combo.setCurrentText(self.settings.processing.preset)
        self.preset_combo.currentTextChanged.connect(self._preset_changed)
        self.options_button = QPushButton("Options…")
        self.options_button.setToolTip("Size, format, quality, background and margin")
        self.options_button.clicked.connect(self.edit_preset_options)
        self.workers_combo = QComboBox()
        self.workers_combo.setToolTip(
            "Photos processed at once. Auto: from this computer's cores and free memory."
        )
        self.workers_combo.addItem("Auto", None)
        for count in range(1, (os.cpu_count() or 1) + 1):
            self.workers_combo.addItem(str(count), count)
        self.workers_combo.setCurrentIndex(
            max(0, self.workers_combo.findData(self.settings.processing.workers))
        )
        self.workers_combo.currentIndexChanged.connect(self._workers_changed)
        self.overwrite_box = QCheckBox("Replace existing")
        self.overwrite_box.setToolTip("Replace outputs that already exist instead of skipping them")
        self.overwrite_box.setChecked(self.settings.processing.overwrite)
        self.overwrite_box.toggled.connect(self._overwrite_changed)
        self.output_label = QLabel()
        self.output_button = QPushButton("Output folder…")
        self.output_button.clicked.connect(self._choose_output)
        top = QHBoxLayout()
        for widget in (self.add_files_button, self.add_folder_button, QLabel("Preset:")):
            top.addWidget(widget)
        top.addWidget(self.preset_combo)
        top.addWidget(self.options_button)
        top.addWidget(QLabel("Workers:"))
        top.addWidget(self.workers_combo)
        top.addWidget(self.overwrite_box)
        top.addStretch(1)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output_label, 1)
        output_row.addWidget(self.output_button)

        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)  # one line per photo; the full text is in the tooltip
        self.table.setIconSize(QSize(THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        self.table.verticalHeader().setDefaultSectionSize(THUMBNAIL_SIDE + 6)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.preview = CutoutPreviewWidget(self.service.thumbnail_pool)
        self.preview.setObjectName("cutoutPreview")
        self.table.selectionModel().currentRowChanged.connect(self._preview_current)
        self.queue_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.queue_splitter.addWidget(self.table)
        self.queue_splitter.addWidget(self.preview)
        self.queue_splitter.setStretchFactor(0, 3)
        self.queue_splitter.setStretchFactor(1, 2)
        self.drop_hint = QLabel("Drop photos or folders here")
        self.drop_hint.setStyleSheet("color: #777; font-size: 15px; padding: 12px;")

        self.progress = QProgressBar()
        self.progress_label = QLabel()
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.retry_button = QPushButton("Retry failed")
        self.retry_button.clicked.connect(self.retry_failed)
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.clicked.connect(self.clear_finished)
        self.rerun_button = QPushButton("Run again with this preset")
        self.rerun_button.setToolTip(
            "Process the finished photos again with the preset chosen above, into a new folder"
        )
        self.rerun_button.clicked.connect(self.rerun_with_current_preset)
        self.open_button = QPushButton("Open output folder")
        self.open_button.clicked.connect(self._open_output)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.progress_label)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        for button in (
            self.start_button,
            self.cancel_button,
            self.retry_button,
            self.clear_button,
            self.rerun_button,
            self.open_button,
        ):
            bottom.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(output_row)
        layout.addWidget(self.notice)
        layout.addWidget(self.drop_hint)
        layout.addWidget(self.queue_splitter, 1)
        layout.addLayout(progress_row)
        layout.addLayout(bottom)

    # -- adding photos ----------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    def add_paths(self, paths: list[Path]) -> int:
        """Plan outputs for files and folders and queue them; returns how many were added."""
        output = self.output_folder or default_output_folder(paths[0])
        preset = self.settings.processing.resolved_preset()
        try:
            plan = plan_batch(paths, output, preset.extension)
        except UsageError as error:
            self._show_notice(str(error))
            return 0
        self.output_folder = output
        added = self._queue(plan.jobs, output)
        if plan.ignored:
            listed = "; ".join(f"{i.input.name} ({i.reason})" for i in plan.ignored[:5])
            more = f" and {len(plan.ignored) - 5} more" if len(plan.ignored) > 5 else ""
            self._show_notice(f"Not added: {listed}{more}.")
        else:
            self.notice.hide()
        if self._scheduler is not None:  # a batch is running: new photos join it
            self._submit([item.job_id for item in added])
        self._refresh()
        return len(added)

    def _queue(self, jobs: list[Job], root: Path) -> list[QueueItem]:
        added = self.model.add_jobs(jobs, root)
        for item in added:
            self.service.thumbnail_pool.start(
                ThumbnailRunnable(item.job_id, item.job.input, self.thumbnail_signals)
            )
        return added

    @Slot()
    def rerun_with_current_preset(self) -> int:
        """Queue every finished photo again with the chosen preset, into a sibling folder named
        after it ('new-arrivals-cutouts' -> 'new-arrivals-cutouts-web'), so nothing is replaced.
        """
        preset = self.settings.processing.resolved_preset()
        added = 0
        for root in sorted({item.root for item in self.model.with_status(DONE, SKIPPED)}):
            new_root = root.with_name(f"{root.name}-{preset.name}")
            jobs = [
                Job(
                    item.job.input,
                    new_root / item.job.output.relative_to(root).with_suffix(preset.extension),
                )
                for item in self.model.with_status(DONE, SKIPPED)
                if item.root == root
            ]
            added += len(self._queue(jobs, new_root))
        if added:
            self.start()
        self._refresh()
        return added

    @Slot()
    def paste_from_clipboard(self) -> int:
        """Ctrl+V: files copied in a file manager, or file paths pasted as text."""
        mime = QGuiApplication.clipboard().mimeData()
        paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
        if not paths and mime.hasText():
            candidates = [Path(line.strip()) for line in mime.text().splitlines() if line.strip()]
            paths = [path for path in candidates if path.is_absolute() and path.exists()]
        if not paths:
            self._show_notice(
                "The clipboard holds no photo files. Copy photos in your file manager, or use "
                "Add files."
            )
            return 0
        return self.add_paths(paths)

    # -- running ----------------------------------------------------------------------------

    @Slot()
    def start(self) -> None:
        queued = [item.job_id for item in self.model.with_status(QUEUED)]
        if not queued or self._scheduler is not None:
            return
        self._scheduler = self.service.scheduler(self.settings)
        self._cancel = threading.Event()
        self._batch = set()
        self._batch_started = time.monotonic()
        log.info("processing %d photos: %s", len(queued), self._scheduler.capacity.describe())
        self._submit(queued)

    def _submit(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            self._batch.add(job_id)
            job = self.model.item(job_id).job
            runnable = JobRunnable(job_id, job, self._scheduler, self._cancel, self.signals)
            self._runnables[job_id] = runnable
            self.service.pool.start(runnable)
        self._refresh()

    @Slot()
    def cancel(self) -> None:
        """Queued photos are dropped at once; running ones stop at their next safe point."""
        if self._scheduler is None:
            return
        self._cancel.set()
        for job_id, runnable in list(self._runnables.items()):
            if self.service.pool.tryTake(runnable):  # it never started: it will never report
                item = self.model.item(job_id)
                self._on_finished(
                    job_id, JobResult(item.job, CANCELLED, message="Cancelled before it started.")
                )

    @Slot()
    def retry_failed(self) -> None:
        for item in self.model.with_status(FAILED, CANCELLED):
            self.model.update(item.job_id, QUEUED)
        if self._scheduler is None:
            self.start()
        else:
            self._submit([item.job_id for item in self.model.with_status(QUEUED)])

    @Slot()
    def clear_finished(self) -> None:
        if self._scheduler is None:
            self.model.remove_finished()
            self.preview.clear()
            self._refresh()

    @property
    def busy(self) -> bool:
        return self._scheduler is not None

    def shutdown(self) -> None:
        """Cancel, drop the queue, wait for running photos: nothing is left half-written."""
        self._cancel.set()
        self.service.shutdown()  # clear() drops the queued runnables, then it waits

    @Slot(int)
    def _on_started(self, job_id: int) -> None:
        if self.model.item(job_id).status == QUEUED:
            self.model.update(job_id, RUNNING)

    @Slot(int, object)
    def _on_finished(self, job_id: int, result: JobResult) -> None:
        self._runnables.pop(job_id, None)
        if not self.model.has(job_id) or self.model.item(job_id).status in FINISHED:
            return
        status = _STATUS.get(result.status, result.status)
        message = "" if status == DONE else result.message
        self.model.update(job_id, status, message, result.ms)
        current = self.table.currentIndex()
        if current.isValid() and self.model.items[current.row()].job_id == job_id:
            self._preview_current(current)  # the selected photo just finished: show its cut-out
        pending = [i for i in self._batch if self.model.item(i).status not in FINISHED]
        if not pending:
            self._scheduler = None
            log.info("batch finished: %s", self._summary())
            self.batch_finished.emit(self._summary())
        self._refresh()

    def _preview_current(self, current, _previous=None) -> None:
        if not current.isValid() or current.row() >= len(self.model.items):
            self.preview.clear()
            return
        item = self.model.items[current.row()]
        finished = item.status in (DONE, SKIPPED) and item.job.output.exists()
        self.preview.show_pair(item.job.input, item.job.output if finished else None)

    # -- status -----------------------------------------------------------------------------

    def _summary(self) -> str:
        counts = {s: len(self.model.with_status(s)) for s in (DONE, SKIPPED, FAILED, CANCELLED)}
        return ", ".join(f"{n} {s}" for s, n in counts.items() if n)

    def _refresh(self) -> None:
        batch = [self.model.item(i) for i in self._batch if self.model.has(i)]
        finished = sum(item.status in FINISHED for item in batch)
        self.progress.setMaximum(max(1, len(batch)))
        self.progress.setValue(finished)
        if self.busy and finished:
            elapsed = time.monotonic() - self._batch_started
            left = elapsed / finished * (len(batch) - finished)
            self.progress_label.setText(f"{finished} / {len(batch)} done, about {left:.0f} s left")
        elif self.busy:
            self.progress_label.setText(f"0 / {len(batch)} done")
        else:
            self.progress_label.setText(self._summary() or "Ready")
        has_items = bool(self.model.items)
        self.drop_hint.setVisible(not has_items)
        self.start_button.setEnabled(not self.busy and bool(self.model.with_status(QUEUED)))
        self.cancel_button.setEnabled(self.busy)
        self.retry_button.setEnabled(bool(self.model.with_status(FAILED, CANCELLED)))
        self.clear_button.setEnabled(not self.busy and has_items)
        self.open_button.setEnabled(bool(self.model.output_folders()))
        self.rerun_button.setEnabled(not self.busy and bool(self.model.with_status(DONE, SKIPPED)))
        self.preset_combo.setEnabled(not self.busy)
        self.options_button.setEnabled(not self.busy)
        self.overwrite_box.setEnabled(not self.busy)
        self.workers_combo.setEnabled(not self.busy)
        folder = self.output_folder or "next to the first photo you add"
        self.output_label.setText(f"Output: {folder}")

    def _show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.show()

    # -- choosers ---------------------------------------------------------------------------

    def choose_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Add photos")
        if names:
            self.add_paths([Path(n) for n in names])

    def choose_folder(self) -> None:
        name = QFileDialog.getExistingDirectory(self, "Add a folder of photos")
        if name:
            self.add_paths([Path(name)])

    def _choose_output(self) -> None:
        name = QFileDialog.getExistingDirectory(self, "Save cut-outs in")
        if name:
            self.output_folder = Path(name)
            self.settings.processing.output_dir = name
            self._refresh()

    @Slot()
    def edit_preset_options(self) -> bool:
        """Open the options of the chosen preset; True when the user saved valid changes."""
        dialog = PresetOptionsDialog(self.settings.processing, self)
        saved = dialog.exec() == PresetOptionsDialog.DialogCode.Accepted
        self._refresh()
        return saved

    def _workers_changed(self, _index: int) -> None:
        self.settings.processing.workers = self.workers_combo.currentData()  # next batch

    def _overwrite_changed(self, checked: bool) -> None:
        self.settings.processing.overwrite = checked

    def _preset_changed(self, name: str) -> None:
        self.settings.processing.preset = name
        self._refresh()

    def _open_output(self) -> None:
        folders = self.model.output_folders()
        if folders:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.output_folder or folders[0])))
