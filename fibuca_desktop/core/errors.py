"""Domain exceptions. Each message is written for a person and says what to do next."""


class FibucaError(Exception):
    """Base class: ``str(error)`` is a complete, actionable message."""


class ImageRejected(FibucaError):
    """An input file cannot be processed (unreadable, truncated, too large, unsupported)."""


class JobTooLarge(ImageRejected):
    """A job needs more memory than the scheduler's whole budget."""


class ModelUnavailable(FibucaError):
    """A model file is missing or corrupt and could not be fetched."""


class OutputError(FibucaError):
    """An output could not be written (unwritable folder, disk full, name clash)."""


class UsageError(FibucaError):
    """The request itself is invalid (bad option combination, output inside the inputs)."""


class Cancelled(FibucaError):
    """The job was cancelled before it finished; nothing was written."""


class SettingsError(FibucaError):
    """Settings are invalid or could not be saved; the message names the field or the file."""


class DatabaseUnavailable(FibucaError):
    """The database cannot be reached or used right now (wrong password, server down, unknown
    database, timeout, connection lost); the message names the server, never the password."""


class WriteRefused(UsageError):
    """A write (an index build, a drop) was asked for while the session is in read-only mode."""


class QueryFailed(FibucaError):
    """The server rejected a statement for a reason that is not about the connection
    (permission denied, a query that cannot be planned); the message says which and why."""


class IndexBuildFailed(FibucaError):
    """CREATE INDEX CONCURRENTLY failed or was cancelled. ``invalid_index`` names the INVALID
    index it left behind (drop it before retrying), or is None when it left none."""

    def __init__(self, message: str, invalid_index: str | None, cancelled: bool = False) -> None:
        super().__init__(message)
        self.invalid_index = invalid_index
        self.cancelled = cancelled
