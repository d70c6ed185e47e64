"""The Process tab's widgets and layout, built onto the panel (the ``setupUi`` idiom of Qt
Designer): the panel keeps only behaviour, this module only what is where."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
)

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.batch import default_output_folder
from fibuca_desktop.core.imaging.presets import PRESETS
from fibuca_desktop.core.imaging.thumbnails import THUMBNAIL_SIDE
from fibuca_desktop.core.profiles.profiles import load_profiles
from fibuca_desktop.ui.process.choosers import chosen_paths, photo_folder_dialog
from fibuca_desktop.ui.process.elided_label import ElidedLabel, never_widening
from fibuca_desktop.ui.process.preview import CutoutPreviewWidget
from fibuca_desktop.ui.process.run_on_workers import RunOnWorkersWidget
from fibuca_desktop.ui.process.watch_switch import WatchSwitchWidget

if TYPE_CHECKING:
    from fibuca_desktop.ui.process.process_panel import ProcessPanel

log = logging.getLogger(__name__)


def build_process_panel(panel: ProcessPanel) -> None:
    """Create the panel's widgets as its attributes, connect them to its slots, lay them out."""
    panel.add_files_button = QPushButton("Add files…")
    panel.add_files_button.clicked.connect(panel.choose_files)
    panel.add_folder_button = QPushButton("Add folder…")
    panel.add_folder_button.clicked.connect(panel.choose_folder)
    panel.preset_combo = QComboBox()
    for name, preset in PRESETS.items():
        panel.preset_combo.addItem(name, name)
        panel.preset_combo.setItemData(
            panel.preset_combo.count() - 1, preset.description, Qt.ItemDataRole.ToolTipRole
        )
    panel.preset_combo.setCurrentText(panel.settings.processing.preset)
    panel.preset_combo.currentTextChanged.connect(panel._preset_changed)
    panel.profile_combo = QComboBox()
    panel.profile_combo.setToolTip(
        "Export for a shop or marketplace: its size, background and framing, and every output "
        "checked against its rules (the Preflight column)"
    )
    panel.profile_combo.addItem("None", None)
    try:
        profiles = load_profiles()
    except UsageError as error:  # a bad user file: the built-in ones, and say why
        log.warning("%s", error)
        profiles = load_profiles(Path(os.devnull))
    for name, profile in profiles.items():
        panel.profile_combo.addItem(name, name)
        index = panel.profile_combo.count() - 1
        panel.profile_combo.setItemData(index, profile.description, Qt.ItemDataRole.ToolTipRole)
    panel.profile_combo.setCurrentIndex(
        max(0, panel.profile_combo.findData(panel.settings.processing.profile))
    )
    panel.profile_combo.currentIndexChanged.connect(panel._profile_changed)
    # In place of the preset combo while a profile decides the output (a greyed "transparent"
    # there read as if the output were a transparent PNG).
    panel.profile_preset_label = QLabel()
    panel.options_button = QPushButton("Options…")
    panel.options_button.setToolTip("Size, format, quality, background, margin and edges")
    panel.options_button.clicked.connect(panel.edit_preset_options)
    panel.workers_combo = QComboBox()
    panel.workers_combo.setToolTip(
        "Photos processed at once. Auto: from this computer's cores and free memory."
    )
    panel.workers_combo.addItem("Auto", None)
    for count in range(1, (os.cpu_count() or 1) + 1):
        panel.workers_combo.addItem(str(count), count)
    panel.workers_combo.setCurrentIndex(
        max(0, panel.workers_combo.findData(panel.settings.processing.workers))
    )
    panel.workers_combo.currentIndexChanged.connect(  # for the next batch
        lambda _index: setattr(
            panel.settings.processing, "workers", panel.workers_combo.currentData()
        )
    )
    panel.overwrite_box = QCheckBox("Replace existing")
    panel.overwrite_box.setToolTip("Replace outputs that already exist instead of skipping them")
    panel.overwrite_box.setChecked(panel.settings.processing.overwrite)
    panel.overwrite_box.toggled.connect(
        lambda checked: setattr(panel.settings.processing, "overwrite", checked)
    )
    panel.watch_switch = _watch_switch(panel)
    panel.run_on_workers = RunOnWorkersWidget(panel.settings.cluster, panel._show_notice)
    panel.run_on_workers.changed.connect(panel._refresh)  # Workers: is this computer's only
    panel.output_label = ElidedLabel()
    panel.output_button = QPushButton("Output folder…")
    panel.output_button.clicked.connect(lambda: _choose_output(panel))
    top = QHBoxLayout()
    for widget in (panel.add_files_button, panel.add_folder_button, QLabel("Preset:")):
        top.addWidget(widget)
    top.addWidget(panel.preset_combo)
    top.addWidget(panel.profile_preset_label)
    top.addWidget(panel.options_button)
    top.addWidget(QLabel("Workers:"))
    top.addWidget(panel.workers_combo)
    top.addWidget(panel.overwrite_box)
    top.addStretch(1)
    output_row = QHBoxLayout()
    output_row.addWidget(panel.output_label, 1)
    output_row.addWidget(QLabel("Export for:"))  # a profile decides the output's shape
    output_row.addWidget(panel.profile_combo)
    output_row.addWidget(panel.output_button)
    output_row.addWidget(panel.watch_switch)
    output_row.addWidget(panel.run_on_workers)  # the row of where and how a batch runs

    panel.notice = never_widening(QLabel())
    panel.notice.hide()
    panel.table = QTableView()
    panel.table.setModel(panel.model)
    panel.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    panel.table.verticalHeader().hide()
    panel.table.setWordWrap(False)  # one line per photo; the full text is in the tooltip
    panel.table.setIconSize(QSize(THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    panel.table.verticalHeader().setDefaultSectionSize(THUMBNAIL_SIDE + 6)
    header = panel.table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
    header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
    panel.preview = CutoutPreviewWidget(panel.service.thumbnail_pool)
    panel.preview.setObjectName("cutoutPreview")
    panel.table.selectionModel().currentRowChanged.connect(panel._preview_current)
    panel.table.doubleClicked.connect(lambda _index: panel.edit_selected())
    panel.edit_button = QPushButton("Edit…")
    panel.edit_button.setToolTip("Touch up the selected photo's cut-out (or double-click it)")
    panel.edit_button.clicked.connect(panel.edit_selected)
    panel.flagged_first_box = QCheckBox("Needs a look first")
    panel.flagged_first_box.setToolTip(
        "Put the photos whose cut-out may be wrong (the Check column says why) at the top"
    )
    panel.flagged_first_box.toggled.connect(panel.model.set_flagged_first)
    panel.rejected_only_box = QCheckBox("Rejected only")
    panel.rejected_only_box.setToolTip(
        "Show only the photos whose output the chosen profile's rules reject (the Preflight "
        "column says why)"
    )
    panel.rejected_only_box.toggled.connect(panel._filter_rejected)
    panel.details = never_widening(QLabel())  # the selected row in full: reasons never cut off
    panel.details.setObjectName("rowDetails")
    panel.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    panel.details.hide()
    panel.queue_splitter = QSplitter(Qt.Orientation.Horizontal)
    panel.queue_splitter.addWidget(panel.table)
    panel.queue_splitter.addWidget(panel.preview)
    panel.queue_splitter.setStretchFactor(0, 3)
    panel.queue_splitter.setStretchFactor(1, 2)
    panel.drop_hint = QLabel("Drop photos or folders here")
    panel.drop_hint.setStyleSheet("color: #777; font-size: 15px; padding: 12px;")

    panel.progress = QProgressBar()
    panel.progress_label = QLabel()
    panel.start_button = QPushButton("Start")
    panel.start_button.clicked.connect(panel.start)
    panel.cancel_button = QPushButton("Cancel")
    panel.cancel_button.clicked.connect(panel.cancel)
    panel.retry_button = QPushButton("Retry failed")
    panel.retry_button.clicked.connect(panel.retry_failed)
    panel.clear_button = QPushButton("Clear finished")
    panel.clear_button.clicked.connect(panel.clear_finished)
    panel.rerun_button = QPushButton("Run again with this preset")
    panel.rerun_button.setToolTip(
        "Process the finished photos again with the preset chosen above, into a new folder"
    )
    panel.rerun_button.clicked.connect(panel.rerun_with_current_preset)
    panel.open_button = QPushButton("Open output folder")
    panel.open_button.clicked.connect(lambda: _open_output(panel))
    progress_row = QHBoxLayout()
    progress_row.addWidget(panel.progress, 1)
    progress_row.addWidget(panel.progress_label)
    queue_row = QHBoxLayout()  # about the queue's rows: their order, the selected one
    queue_row.addWidget(panel.flagged_first_box)
    queue_row.addWidget(panel.rejected_only_box)
    queue_row.addStretch(1)
    queue_row.addWidget(panel.edit_button)
    bottom = QHBoxLayout()
    bottom.addStretch(1)
    for button in (
        panel.start_button,
        panel.cancel_button,
        panel.retry_button,
        panel.clear_button,
        panel.rerun_button,
        panel.open_button,
    ):
        bottom.addWidget(button)

    layout = QVBoxLayout(panel)
    layout.addLayout(top)
    layout.addLayout(output_row)
    layout.addWidget(panel.notice)
    layout.addWidget(panel.drop_hint)
    layout.addLayout(queue_row)
    layout.addWidget(panel.queue_splitter, 1)
    layout.addWidget(panel.details)
    layout.addLayout(progress_row)
    layout.addLayout(bottom)


def _choose_output(panel: ProcessPanel) -> None:
    [name] = chosen_paths(photo_folder_dialog(panel, panel.output_folder)) or [None]
    if name:
        panel.output_folder = name
        panel.settings.processing.output_dir = str(name)
        panel._refresh()


def _open_output(panel: ProcessPanel) -> None:
    folders = panel.model.output_folders()
    if folders:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(panel.output_folder or folders[0])))


def _watch_switch(panel: ProcessPanel) -> WatchSwitchWidget:
    """The folder comes from the usual folder dialog; outputs go where added photos' go."""

    def choose() -> Path | None:
        chosen = chosen_paths(photo_folder_dialog(panel, panel._last_input_folder))
        return chosen[0] if chosen else None

    return WatchSwitchWidget(
        panel.add_paths, choose, lambda folder: panel.output_folder or default_output_folder(folder)
    )
