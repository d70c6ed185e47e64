"""The targets list: a coloured state badge, the latest memory, the backend's own status, trend."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from fibuca_desktop.core.monitor.poller import PollOutcome
from fibuca_desktop.core.monitor.samples import (
    CPU_PERCENT,
    HEAP_USED_MB,
    LAG_P99_MS,
    LOOP_LATENCY_P95_MS,
    RSS_MB,
    SYSTEM_AVAILABLE_MB,
    SYSTEM_USED_PERCENT,
)
from fibuca_desktop.core.monitor.targets import LOCAL, PM2, MonitorTarget
from fibuca_desktop.core.monitor.thresholds import State, Trend

STATE_COLOURS = {
    State.OK: "#2e7d32",
    State.WARNING: "#d98c00",
    State.DEGRADED: "#7b1fa2",  # answers, but slowly
    State.CRITICAL: "#c62828",
    State.DOWN: "#616161",
}
WAITING_COLOUR = "#9e9e9e"
STALE_TEXT_COLOUR = "#303030"  # on white: a stale badge is outlined, not filled
COLUMNS = ("State", "Target", "Memory", "Backend", "Trend")
STATE, NAME, MEMORY, BACKEND, TREND = range(len(COLUMNS))
GROWTH_SHOWN_FROM = 0.1  # MB per minute; below this a series is "steady"
STALE_ROLE = Qt.ItemDataRole.UserRole + 1  # True when the shown state is older than it should be


def _mb(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1024:.1f} GB" if value >= 10_240 else f"{value:.0f} MB"


def memory_text(target: MonitorTarget, outcome: PollOutcome) -> str:
    """The few numbers that matter for this kind of target, gaps as a dash."""
    sample = outcome.sample
    if target.kind == PM2:  # RSS and CPU always; the heap once PM2's agent reports it
        cpu = sample.value(CPU_PERCENT)
        text = f"RSS {_mb(sample.value(RSS_MB))} · CPU {'–' if cpu is None else f'{cpu:.0f}%'}"
        heap = sample.value(HEAP_USED_MB)
        return text if heap is None else f"{text} · heap {_mb(heap)}"
    if target.kind != LOCAL:
        return f"heap {_mb(sample.value(HEAP_USED_MB))} · RSS {_mb(sample.value(RSS_MB))}"
    used = sample.value(SYSTEM_USED_PERCENT)
    system = "–" if used is None else f"{used:.0f}%"
    who = "app" if target.pid is None and not target.process_name else "RSS"
    return f"{who} {_mb(sample.value(RSS_MB))} · system {system} used"


def trend_text(trend: Trend) -> str:
    """'+3.2 MB/min · critical in 25 min' while growing, else 'steady' or 'falling'."""
    rate = trend.mb_per_minute
    if rate >= GROWTH_SHOWN_FROM:
        text = f"+{rate:.1f} MB/min"
        seconds = trend.seconds_to_critical
        if seconds is not None:
            text += f" · critical in {_duration(seconds)}"
        return text
    return "falling" if rate <= -GROWTH_SHOWN_FROM else "steady"


def _health_lines(outcome: PollOutcome) -> list[str]:
    """The leak evidence, restarts and response times behind the row, for its tooltip."""
    lines = [outcome.leak_text] if outcome.leak_text else []
    leak = outcome.leak
    if leak is not None and leak.slope_ci_mb_per_minute is not None:
        low, high = leak.slope_ci_mb_per_minute
        period = "no sawtooth" if leak.period_s is None else f"sawtooth every {leak.period_s:.0f} s"
        lines.append(
            f"{outcome.leak_metric} floor {leak.floor_mb_per_minute:+.1f} MB/min "
            f"({low:+.1f} to {high:+.1f}), {leak.cycles} cycles, {period}, "
            f"{leak.evidence_seconds / 60:.0f} min of evidence"
        )
    if outcome.restarts:
        lines.append(f"restarts since monitoring began: {outcome.restarts}")
    sample = outcome.sample
    if sample.latency_ms is not None:
        lines.append(f"response {sample.latency_ms:.0f} ms")
    lag = sample.runtime.get(LAG_P99_MS)
    if lag is not None:
        lines.append(f"event-loop lag p99 {lag:.0f} ms")
    latency = sample.value(LOOP_LATENCY_P95_MS)
    if latency is not None:
        lines.append(f"event-loop latency p95 {latency:.1f} ms (PM2)")
    return lines


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.0f} days"


class TargetTableModel(QAbstractTableModel):
    """One row per watched target, in the order they were added."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._targets: list[MonitorTarget] = []
        self._latest: dict[str, PollOutcome] = {}
        self._stale: set[str] = set()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._targets)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def target_at(self, row: int) -> MonitorTarget:
        return self._targets[row]

    def row_of(self, name: str) -> int:
        return next((i for i, t in enumerate(self._targets) if t.name == name), -1)

    def latest(self, name: str) -> PollOutcome | None:
        return self._latest.get(name)

    def add(self, target: MonitorTarget, row: int | None = None) -> None:
        row = len(self._targets) if row is None else min(row, len(self._targets))
        self.beginInsertRows(QModelIndex(), row, row)
        self._targets.insert(row, target)
        self.endInsertRows()

    def remove(self, name: str) -> int:
        """Remove a target's row; returns the row it had."""
        row = self.row_of(name)
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._targets[row]
        self._latest.pop(name, None)
        self._stale.discard(name)
        self.endRemoveRows()
        return row

    def is_stale(self, name: str) -> bool:
        return name in self._stale

    def set_stale(self, names: set[str]) -> None:
        """Mark the targets whose latest outcome is older than its next one was due."""
        changed = names ^ self._stale
        self._stale = set(names)
        for name in changed:
            row = self.row_of(name)
            if row >= 0:
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def update(self, name: str, outcome: PollOutcome) -> None:
        row = self.row_of(name)
        if row < 0:
            return
        self._latest[name] = outcome
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        target = self._targets[index.row()]
        outcome = self._latest.get(target.name)
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(target, outcome, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(target, outcome)
        if role == Qt.ItemDataRole.UserRole and column == STATE:
            return None if outcome is None else outcome.state
        if role == STALE_ROLE:
            return target.name in self._stale
        return None

    def _display(self, target: MonitorTarget, outcome: PollOutcome | None, column: int) -> str:
        if column == NAME:
            return target.name
        if outcome is None:
            return "waiting…" if column == STATE else ""
        if column == STATE:
            return f"{outcome.state} · stale" if target.name in self._stale else str(outcome.state)
        if column == MEMORY:
            return memory_text(target, outcome)
        if column == BACKEND:
            return outcome.sample.backend_status or "–"
        if outcome.state == State.DOWN and not (outcome.leak and outcome.leak.suspected):
            return "–"  # no answer: no evidence is being collected (a leak seen stays shown)
        return outcome.leak_text or trend_text(outcome.trend)

    def _tooltip(self, target: MonitorTarget, outcome: PollOutcome | None) -> str:
        lines = [
            f"{target.name}: {target.address}",
            f"warning {target.warning_mb:g} MB, critical {target.critical_mb:g} MB "
            f"on {target.metric}",
        ]
        if outcome is not None and target.name in self._stale:
            clock = datetime.fromtimestamp(outcome.sample.time).strftime("%H:%M:%S")
            lines.append(f"stale: no newer answer since {clock}; this state may be out of date")
        if outcome is not None:
            available = outcome.sample.value(SYSTEM_AVAILABLE_MB)
            if available is not None:
                lines.append(f"this computer: {_mb(available)} available")
            if outcome.reason:
                lines.append(outcome.reason)
            lines.extend(_health_lines(outcome))
        return "\n".join(lines)


class StateBadgeDelegate(QStyledItemDelegate):
    """Paints the State column as a rounded badge: filled in the state's colour with white text,
    or, when the state is stale, only outlined (dashed) in that colour with dark text, so an
    old state still says what it was but never looks live.

    The badge is sized with the bold font it is drawn in, its round ends clear of the text, and
    the column's size hint asks for all of it: no state is ever cut off."""

    MARGIN = 4  # between the badge and the cell's edges

    @staticmethod
    def badge_font(option: QStyleOptionViewItem) -> QFont:
        font = QFont(option.font)
        font.setBold(True)
        return font

    @classmethod
    def badge_size(cls, option: QStyleOptionViewItem, text: str) -> QSize:
        """Width and height of the badge for ``text``: the text plus a round end each side."""
        metrics = QFontMetrics(cls.badge_font(option))
        height = metrics.height() + 4
        return QSize(metrics.horizontalAdvance(text) + height, height)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        state = index.data(Qt.ItemDataRole.UserRole)
        text = index.data(Qt.ItemDataRole.DisplayRole) or ""
        style = option.widget.style() if option.widget else None
        if style is not None and option.state & QStyle.StateFlag.State_Selected:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter)
        stale = bool(index.data(STALE_ROLE))
        colour = QColor(STATE_COLOURS.get(state, WAITING_COLOUR))
        size = self.badge_size(option, text)
        width = min(option.rect.width() - 2 * self.MARGIN, size.width())
        badge = QRect(0, 0, width, size.height())
        badge.moveCenter(option.rect.center())
        badge.moveLeft(option.rect.left() + self.MARGIN)
        radius = size.height() / 2
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if stale:
            pen = QPen(colour, 2, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(QColor("white"))
            painter.drawRoundedRect(badge.adjusted(1, 1, -1, -1), radius - 1, radius - 1)
            painter.setPen(QColor(STALE_TEXT_COLOUR))
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(badge, radius, radius)
            painter.setPen(QColor("white"))
        painter.setFont(self.badge_font(option))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index):
        size = super().sizeHint(option, index)
        text = index.data(Qt.ItemDataRole.DisplayRole) or ""
        badge = self.badge_size(option, text)
        size.setWidth(max(badge.width() + 2 * self.MARGIN, 96))
        size.setHeight(max(size.height(), badge.height() + 2))
        return size
