"""The Process tab: drop photos or folders, pick a preset, watch the queue, get cut-outs."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import QWidget

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.batch import BatchPlan, Job, default_output_folder
from fibuca_desktop.core.imaging.folder_walk import not_added
from fibuca_desktop.core.imaging.output_records import clean_stale_parts
from fibuca_desktop.core.imaging.pipeline import PROCESSED, JobResult
from fibuca_desktop.core.imaging.presets import Preset
from fibuca_desktop.core.imaging.scheduler import Scheduler
from fibuca_desktop.core.settings import Settings
from fibuca_desktop.ui.process.choosers import (
    chosen_paths,
    local_paths,
    photo_files_dialog,
    photo_folder_dialog,
)
from fibuca_desktop.ui.process.cluster_runner import ClusterRunner, made_on
from fibuca_desktop.ui.process.job_runner import (
    JobRunnable,
    JobSignals,
    ThumbnailRunnable,
    ThumbnailSignals,
)
from fibuca_desktop.ui.process.preset_options_dialog import PresetOptionsDialog
from fibuca_desktop.ui.process.process_layout import build_process_panel
from fibuca_desktop.ui.process.process_service import ProcessService
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
from fibuca_desktop.ui.process.touch_up import TouchUp, editable

__all__ = ["ProcessPanel", "ProcessService"]  # the service is built by app.py beside the panel
log = logging.getLogger(__name__)
_STATUS = {PROCESSED: DONE}  # the core's other statuses (skipped, failed, cancelled) read the same


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
        self.output_folder: Path | None = settings.processing.output_folder()
        self._scheduler: Scheduler | None = None
        self._cancel = threading.Event()
        self._batch: set[int] = set()
        self._runnables: dict[int, JobRunnable] = {}
        self._batch_started = 0.0
        self._last_input_folder: Path | None = None
        self.plan = BatchPlan(".png")  # every output name of this queue; re-planned per preset
        self.touch_up = TouchUp(self)
        self.cluster = ClusterRunner(self)  # "Run on workers": the same rows, from a broker
        self.cluster.signals.started.connect(self._on_started)
        self.cluster.signals.finished.connect(self._on_finished)
        self.cluster.signals.notice.connect(self._show_notice)
        self.cluster.signals.lost.connect(self._on_cluster_lost)
        build_process_panel(self)
        self._refresh()

    # -- adding photos ----------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = local_paths(event.mimeData(), text=False)
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    def add_paths(self, paths: list[Path]) -> int:
        """Plan outputs for files and folders and queue them; returns how many were added."""
        output = self.output_folder or default_output_folder(paths[0])
        preset = self._preset()
        if preset is None:
            return 0
        try:
            plan = self.plan.add(paths, output)
        except UsageError as error:
            self._show_notice(str(error))
            return 0
        self.output_folder = output
        added = self._queue(plan.jobs, output)
        if plan.ignored:
            self._show_notice(not_added(plan.ignored))
        else:
            self.notice.hide()
        if self.busy:  # a batch is running: new photos join it
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
        """Queue every finished photo again, once, with the chosen preset, into a sibling of its
        first output folder named after it ('new-arrivals-cutouts' -> 'new-arrivals-cutouts-web'),
        so nothing is replaced. A preset that cannot be used is a notice, never an error dialog."""
        preset = self._preset()
        if preset is None:
            return 0
        finished = [item.job for item in self.model.with_status(DONE, SKIPPED)]
        added = 0
        by_root: dict[Path, list[Job]] = {}
        try:
            again = self.plan.again_into_siblings(finished, preset.name)
        except UsageError as error:  # the name template makes no name for one of them
            self._show_notice(str(error))
            return 0
        for job in again:
            by_root.setdefault(self.plan.root_of(job), []).append(job)
        for root, jobs in by_root.items():
            added += len(self._queue(jobs, root))
        if added:
            self.start()
        elif finished:
            self._show_notice(f"Every finished photo has been run with the {preset.name} preset.")
        self._refresh()
        return added

    def _preset(self) -> Preset | None:
        """The chosen preset with its options (a profile's own preset when one is chosen), the
        queued photos re-planned for it and the name template (a name always tells what is
        inside); None after saying what is wrong."""
        processing = self.settings.processing
        try:
            profile = processing.resolved_profile()
            preset = profile.preset if profile else processing.resolved_preset()
            queued = [item.job for item in self.model.with_status(QUEUED)]
            naming = processing.naming(preset)
            self.model.replace_jobs(self.plan.retarget(queued, preset.extension, naming))
        except UsageError as error:
            chosen = f"{processing.profile} profile" if processing.profile else "preset"
            self._show_notice(f"The {chosen} cannot be used: {error}")
            return None
        return preset

    @Slot()
    def paste_from_clipboard(self) -> int:
        """Ctrl+V: files copied in a file manager, or file paths pasted as text."""
        paths = local_paths(QGuiApplication.clipboard().mimeData(), text=True)
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
        if not queued or self.busy:
            return
        preset = self._preset()
        if preset is None:
            return
        self._cancel, self._batch = threading.Event(), set()
        self._batch_started = time.monotonic()
        if self.settings.cluster.run_on_workers:  # planned here, run there
            self.cluster.start({}, preset, self.settings.cluster, self.settings.processing)
            self._submit(queued)
            return
        try:
            profile = self.settings.processing.resolved_profile()
            self._scheduler = self.service.scheduler(self.settings, preset, profile)
        except UsageError as error:
            self._show_notice(str(error))
            return
        if self._scheduler.capacity.note:
            self._show_notice(f"Note: {self._scheduler.capacity.note}.")
        log.info("processing %d photos: %s", len(queued), self._scheduler.capacity.describe())
        self._submit(queued)

    def _submit(self, job_ids: list[int]) -> None:
        """Run photos in the batch, once a killed run's leftovers in their folders are gone."""
        if self.cluster.busy:  # the workers clean each output's leftovers themselves
            for job_id in job_ids:
                self._batch.add(job_id)
                item = self.model.item(job_id)
                item.preset, item.model = self.cluster.preset, self.settings.processing.model
            self.cluster.submit({i: self.model.item(i).job for i in job_ids})
            return self._refresh()
        folders = {self.model.item(job_id).job.output.parent for job_id in job_ids}
        for stale in clean_stale_parts(folders):
            log.info("removed %s, left by an interrupted run", stale)
        pipeline = self._scheduler.pipeline
        for job_id in job_ids:
            self._batch.add(job_id)
            item = self.model.item(job_id)
            item.preset, item.model = pipeline.preset, pipeline.model  # the editor saves with them
            job = item.job
            runnable = JobRunnable(job_id, job, self._scheduler, self._cancel, self.signals)
            self._runnables[job_id] = runnable
            self.service.pool.start(runnable)
        self._refresh()

    @Slot()
    def cancel(self) -> None:
        """Queued photos are dropped at once; running ones stop at their next safe point (on
        workers: revoked, running ones finish)."""
        self.cluster.cancel()
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
        """Queue failed and cancelled photos again; during a batch only they join it (once)."""
        retried = [item.job_id for item in self.model.with_status(FAILED, CANCELLED)]
        for job_id in retried:
            self.model.update(job_id, QUEUED)
        if not self.busy:
            self.start()
        else:
            self._submit(retried)

    @Slot()
    def clear_finished(self) -> None:
        if self._scheduler is None:
            self.plan.release([item.job for item in self.model.with_status(DONE, SKIPPED)])
            self.model.remove_finished()
            self.preview.clear()
            self._refresh()

    @property
    def busy(self) -> bool:
        return self._scheduler is not None or self.cluster.busy

    def shutdown(self) -> None:
        """Cancel, drop the queue, wait for running photos: nothing is left half-written."""
        self._cancel.set()
        self.watch_switch.stop()
        self.touch_up.shutdown()
        self.cluster.shutdown()  # revokes what no worker started; bounded
        self.service.shutdown()  # clear() drops the queued runnables, then it waits

    @Slot(int)
    def _on_started(self, job_id: int) -> None:
        if self.model.item(job_id).status == QUEUED:
            self.model.update(job_id, RUNNING)
            self._refresh()

    @Slot(int, object)
    def _on_finished(self, job_id: int, result: JobResult) -> None:
        self._runnables.pop(job_id, None)
        was = self.model.item(job_id).status if self.model.has(job_id) else None
        # Finished rows stay, but a worker's late word on a photo reported cancelled wins.
        if was is None or (was in FINISHED and not (was == CANCELLED != result.status)):
            return
        status = _STATUS.get(result.status, result.status)
        message = "" if status == DONE else result.message
        self.model.update(
            job_id,
            status,
            message,
            result.ms,
            review=tuple(result.review),
            preflight=result.preflight,
            edited=result.mask == "edited",
            worker=made_on(result),  # run on workers: which machine made it
        )
        self.refresh_preview(job_id)  # the selected photo just finished: show its cut-out
        pending = [i for i in self._batch if self.model.item(i).status not in FINISHED]
        if not pending:
            halted = self._scheduler.halted if self._scheduler else self.cluster.finish()
            self._scheduler = None
            log.info("batch finished: %s", self._summary())
            if halted:
                self._show_notice(f"Stopped early: {halted}")
            elif self.model.with_status(FAILED):
                self._show_notice(
                    "Some photos failed: select one to read why below; Retry failed runs them "
                    "again."
                )
            self.batch_finished.emit(self._summary())
        self._refresh()

    @Slot(str)
    def _on_cluster_lost(self, message: str) -> None:
        """The broker cannot be reached (or went away): the photos without a result fail with
        the message, which is also the panel's one line."""
        for job_id in [i for i in self._batch if self.model.item(i).status not in FINISHED]:
            job = self.model.item(job_id).job
            self._on_finished(job_id, JobResult(job, FAILED, message=message))
        self._show_notice(message)

    def refresh_preview(self, job_id: int) -> None:
        """Show a row's cut-out again if it is the selected one (it was just written)."""
        current = self.table.currentIndex()
        if current.isValid() and self.model.items[current.row()].job_id == job_id:
            self._preview_current(current)

    @Slot()
    def edit_selected(self) -> None:
        """Edit…, or a double-click: open the touch-up editor on the selected photo."""
        current = self.table.currentIndex()
        if current.isValid():
            self.touch_up.edit(self.model.items[current.row()].job_id)

    def _preview_current(self, current, _previous=None) -> None:
        if not current.isValid() or current.row() >= len(self.model.items):
            self.preview.clear()
            self.details.hide()
            return
        item = self.model.items[current.row()]
        self.details.setText(item.details)
        self.details.show()
        finished = item.status in (DONE, SKIPPED) and item.job.output.exists()
        self.preview.show_pair(item.job.input, item.job.output if finished else None)
        self._update_edit_button()

    # -- status -----------------------------------------------------------------------------

    def _summary(self) -> str:
        return ", ".join(f"{n} {s}" for s, n in self.model.counts().items())

    def _refresh(self) -> None:
        """The bar counts the whole queue: 100% only when no photo is queued or running."""
        counts = self.model.counts()
        total = sum(counts.values())
        finished = sum(n for status, n in counts.items() if status in FINISHED)
        self.progress.setMaximum(max(1, total))
        self.progress.setValue(finished)
        text = self._summary() or "Ready"
        if self.busy:
            text += self.model.time_left(self._batch, time.monotonic() - self._batch_started)
        self.progress_label.setText(text + self.run_on_workers.where())
        has_items = bool(self.model.items)
        self.drop_hint.setVisible(not has_items)
        self.start_button.setEnabled(not self.busy and bool(self.model.with_status(QUEUED)))
        self.cancel_button.setEnabled(self.busy)
        self.retry_button.setEnabled(bool(self.model.with_status(FAILED, CANCELLED)))
        self.clear_button.setEnabled(not self.busy and has_items)
        self.open_button.setEnabled(bool(self.model.output_folders()))
        self._update_edit_button()
        flagged, label = len(self.model.flagged()), "Needs a look first"
        self.flagged_first_box.setText(f"{label} ({flagged})" if flagged else label)
        self.rerun_button.setEnabled(not self.busy and bool(self.model.with_status(DONE, SKIPPED)))
        profile = self.settings.processing.profile  # when set, its preset is used
        self.preset_combo.setVisible(not profile)
        self.profile_preset_label.setVisible(bool(profile))
        if profile:
            self.profile_preset_label.setText(f"set by {profile}")
            tip = self.profile_combo.currentData(Qt.ItemDataRole.ToolTipRole)
            self.profile_preset_label.setToolTip(tip or "")
        self.preset_combo.setEnabled(not self.busy and not profile)
        self.options_button.setEnabled(not self.busy and not profile)
        self.profile_combo.setEnabled(not self.busy)
        self._filter_rejected()
        self.overwrite_box.setEnabled(not self.busy)
        self.workers_combo.setEnabled(not self.busy and not self.settings.cluster.run_on_workers)
        self.run_on_workers.setEnabled(not self.busy)
        folder = self.output_folder or "beside the folder of the first photos you add"
        self.output_label.setText(f"Output: {folder}")

    def _update_edit_button(self) -> None:
        """Edit… is for the selected row, once its output is on disk."""
        current = self.table.currentIndex()
        selected = self.model.items[current.row()] if current.isValid() else None
        self.edit_button.setEnabled(selected is not None and editable(selected))

    def _show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.show()

    # -- choosers ---------------------------------------------------------------------------

    def choose_files(self) -> None:
        self._add_chosen(photo_files_dialog(self, self._last_input_folder))

    def choose_folder(self) -> None:
        self._add_chosen(photo_folder_dialog(self, self._last_input_folder))

    def _add_chosen(self, dialog) -> None:
        paths = chosen_paths(dialog)
        if paths:
            self._last_input_folder = paths[0].parent
            self.add_paths(paths)

    @Slot()
    def edit_preset_options(self) -> bool:
        """Open the options of the chosen preset; True when the user saved valid changes."""
        dialog = PresetOptionsDialog(self.settings.processing, self)
        saved = dialog.exec() == PresetOptionsDialog.DialogCode.Accepted
        self._preset_changed(self.settings.processing.preset)
        return saved

    def _filter_rejected(self) -> None:
        """ "Rejected only": hide every row whose output its profile does not reject."""
        rejected, label = sum(item.rejected for item in self.model.items), "Rejected only"
        self.rejected_only_box.setText(f"{label} ({rejected})" if rejected else label)
        only = self.rejected_only_box.isChecked()
        for row, item in enumerate(self.model.items):
            self.table.setRowHidden(row, only and not item.rejected)

    def _profile_changed(self, _index: int) -> None:
        self.settings.processing.profile = self.profile_combo.currentData()
        self._refresh()
        self._preset_changed(self.settings.processing.preset)

    def _preset_changed(self, name: str) -> None:
        self.settings.processing.preset = name
        self._preset()  # re-plans the queue, or says why it cannot
        self._refresh()
